package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/projector"
)

// rebuildTracker collects a rebuild's progress (from the rebuilding
// goroutine) for the progress line, the progress logs and the admin
// endpoint. Every table's rebuild reads the whole log, so the work is
// counted in log events per table: done/total sum over the tables.
type rebuildTracker struct {
	now func() time.Time

	mu     sync.Mutex
	begin  time.Time
	order  []string
	tables map[string]projector.RebuildProgress
}

func newRebuildTracker(list []projector.Projection) *rebuildTracker {
	t := &rebuildTracker{now: time.Now, tables: map[string]projector.RebuildProgress{}}
	t.begin = t.now()
	for _, p := range list {
		t.order = append(t.order, p.Table)
		t.tables[p.Table] = projector.RebuildProgress{Projection: p.Name, Table: p.Table, Phase: projector.PhaseWaiting}
	}
	return t
}

// update records a table's latest state; safe from any goroutine.
func (t *rebuildTracker) update(p projector.RebuildProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tables[p.Table] = p
}

// rebuildSummary is the tracker's state, also the admin endpoint's JSON.
type rebuildSummary struct {
	TablesDone   int     `json:"tables_done"`
	TablesTotal  int     `json:"tables_total"`
	Current      string  `json:"current,omitempty"`
	Phase        string  `json:"phase,omitempty"`
	EventsDone   int64   `json:"events_done"`
	EventsTotal  int64   `json:"events_total"`
	EventsPerSec float64 `json:"events_per_second"`
	// ETASeconds is the estimated time left, from the rate so far; 0 when
	// unknown.
	ETASeconds float64              `json:"eta_seconds,omitempty"`
	Tables     []rebuildTableStatus `json:"tables"`
}

type rebuildTableStatus struct {
	Table       string `json:"table"`
	Phase       string `json:"phase"`
	EventsDone  int64  `json:"events_done"`
	EventsTotal int64  `json:"events_total"`
	Error       string `json:"error,omitempty"`
}

// summary adds up the tables. A table not started yet is expected to read
// as many events as the largest total seen so far.
func (t *rebuildTracker) summary() rebuildSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := rebuildSummary{TablesTotal: len(t.order)}
	var head int64
	for _, name := range t.order {
		head = max(head, t.tables[name].Total)
	}
	for _, name := range t.order {
		p := t.tables[name]
		total := p.Total
		if p.Phase == projector.PhaseWaiting {
			total = head
		}
		st := rebuildTableStatus{Table: name, Phase: string(p.Phase), EventsDone: p.Done, EventsTotal: total}
		if p.Err != nil {
			st.Error = p.Err.Error()
		}
		s.Tables = append(s.Tables, st)
		s.EventsDone += p.Done
		s.EventsTotal += total
		switch p.Phase {
		case projector.PhaseDone, projector.PhaseFailed:
			s.TablesDone++
		case projector.PhaseWaiting:
		default:
			s.Current, s.Phase = name, string(p.Phase)
		}
	}
	if secs := t.now().Sub(t.begin).Seconds(); secs > 0 && s.EventsDone > 0 {
		s.EventsPerSec = float64(s.EventsDone) / secs
		s.ETASeconds = float64(max(s.EventsTotal-s.EventsDone, 0)) / s.EventsPerSec
	}
	return s
}

// line renders the summary on one line, e.g.
// "[#####---------------] 2/9 tables · invoices filling · 2000000/9000000 events · 95000 events/s · ETA 1m14s".
func (s rebuildSummary) line() string {
	filled := 0
	if s.EventsTotal > 0 {
		filled = min(progressWidth, int(int64(progressWidth)*s.EventsDone/s.EventsTotal))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %d/%d tables", strings.Repeat("#", filled), strings.Repeat("-", progressWidth-filled), s.TablesDone, s.TablesTotal)
	if s.Current != "" {
		fmt.Fprintf(&b, " · %s %s", s.Current, strings.ReplaceAll(s.Phase, "_", " "))
	}
	fmt.Fprintf(&b, " · %d/%d events", s.EventsDone, s.EventsTotal)
	if s.EventsPerSec > 0 {
		fmt.Fprintf(&b, " · %.0f events/s · ETA %s", s.EventsPerSec, (time.Duration(s.ETASeconds) * time.Second).String())
	}
	return b.String()
}

// drawLoop redraws the progress line on w until stop is closed, then
// clears it and closes done.
func (t *rebuildTracker) drawLoop(w io.Writer, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(progressRedraw)
	defer tick.Stop()
	for {
		fmt.Fprint(w, "\r\033[K"+t.summary().line())
		select {
		case <-stop:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-tick.C:
		}
	}
}
