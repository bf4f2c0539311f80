package projector

import (
	"sync"
	"time"
)

// RebuildTracker adds up a rebuild's progress (reported from the
// rebuilding goroutine through RebuildConfig.OnProgress) for whoever shows
// it: the CLI's progress line and logs, the admin endpoint, the console.
// Every table's rebuild reads the whole log, so the work is counted in log
// events per table: done and total sum over the tables.
type RebuildTracker struct {
	begin time.Time

	mu     sync.Mutex
	order  []string
	tables map[string]RebuildProgress
}

// NewRebuildTracker tracks a rebuild of list, starting now.
func NewRebuildTracker(list []Projection) *RebuildTracker {
	t := &RebuildTracker{begin: time.Now(), tables: map[string]RebuildProgress{}}
	for _, p := range list {
		t.order = append(t.order, p.Table)
		t.tables[p.Table] = RebuildProgress{Projection: p.Name, Table: p.Table, Phase: PhaseWaiting}
	}
	return t
}

// Started is when the tracked rebuild began.
func (t *RebuildTracker) Started() time.Time { return t.begin }

// Update records a table's latest state; safe from any goroutine. It has
// RebuildConfig.OnProgress's signature.
func (t *RebuildTracker) Update(p RebuildProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.tables[p.Table] = p
}

// RebuildSummary is a rebuild's progress over all its tables, also the
// admin endpoint's JSON.
type RebuildSummary struct {
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
	Tables     []RebuildTableStatus `json:"tables"`
}

// RebuildTableStatus is one table's part of a RebuildSummary.
type RebuildTableStatus struct {
	Table       string `json:"table"`
	Phase       string `json:"phase"`
	EventsDone  int64  `json:"events_done"`
	EventsTotal int64  `json:"events_total"`
	Error       string `json:"error,omitempty"`
}

// Summary adds up the tables as of now.
func (t *RebuildTracker) Summary() RebuildSummary { return t.SummaryAt(time.Now()) }

// SummaryAt adds up the tables, with the rate and time left as of now. A
// table not started yet is expected to read as many events as the largest
// total seen so far.
func (t *RebuildTracker) SummaryAt(now time.Time) RebuildSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := RebuildSummary{TablesTotal: len(t.order)}
	var head int64
	for _, name := range t.order {
		head = max(head, t.tables[name].Total)
	}
	for _, name := range t.order {
		p := t.tables[name]
		total := p.Total
		if p.Phase == PhaseWaiting {
			total = head
		}
		st := RebuildTableStatus{Table: name, Phase: string(p.Phase), EventsDone: p.Done, EventsTotal: total}
		if p.Err != nil {
			st.Error = p.Err.Error()
		}
		s.Tables = append(s.Tables, st)
		s.EventsDone += p.Done
		s.EventsTotal += total
		switch p.Phase {
		case PhaseDone, PhaseFailed:
			s.TablesDone++
		case PhaseWaiting:
		default:
			s.Current, s.Phase = name, string(p.Phase)
		}
	}
	if secs := now.Sub(t.begin).Seconds(); secs > 0 && s.EventsDone > 0 {
		s.EventsPerSec = float64(s.EventsDone) / secs
		s.ETASeconds = float64(max(s.EventsTotal-s.EventsDone, 0)) / s.EventsPerSec
	}
	return s
}
