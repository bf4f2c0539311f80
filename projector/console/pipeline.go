package console

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/projector"
)

// Pipeline is what the pipeline page shows.
type Pipeline struct {
	Status projector.Status
	// LastReceived is when the newest event was stored (zero: empty log).
	LastReceived time.Time
	DeadLetters  []projector.DeadLetter
	// MoreDeadLetters counts unresolved dead letters beyond those listed.
	MoreDeadLetters int64
	Backfill        []BackfillProgress
	Jobs            []Job
	Webhooks        WebhookRates
}

// BackfillProgress is one entity's stored backfill progress (any process).
type BackfillProgress struct {
	Entity                                  string
	Pages, Fetched, Stored, Duplicates, Err int64
	Done                                    bool
	LastError                               string
	UpdatedAt                               time.Time
}

// deadLetterLimit bounds the dead letters listed.
const deadLetterLimit = 100

func (s *store) pipeline(ctx context.Context) (Pipeline, error) {
	var p Pipeline
	var err error
	if p.Status, err = projector.ReadStatus(ctx, s.pool, s.schema); err != nil {
		return Pipeline{}, err
	}
	if p.Status.Head > 0 {
		err := s.pool.QueryRow(ctx, s.q.LogHeadReceived, p.Status.Head).Scan(&p.LastReceived)
		if err != nil && err != pgx.ErrNoRows {
			return Pipeline{}, fmt.Errorf("reading the log head: %w", err)
		}
	}
	if p.DeadLetters, p.MoreDeadLetters, err = projector.OldestDeadLetters(ctx, s.pool, s.schema, deadLetterLimit); err != nil {
		return Pipeline{}, err
	}
	if p.Backfill, err = s.backfillProgress(ctx); err != nil {
		return Pipeline{}, err
	}
	return p, nil
}

func (s *store) backfillProgress(ctx context.Context) ([]BackfillProgress, error) {
	rows, err := s.pool.Query(ctx, s.q.BackfillProgress)
	if err != nil {
		return nil, fmt.Errorf("reading backfill progress: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[BackfillProgress])
	if err != nil {
		return nil, fmt.Errorf("reading backfill progress: %w", err)
	}
	return list, nil
}

// WebhookRates are this process's webhook outcomes over recent windows.
type WebhookRates struct {
	// Available is false when no counters are sampled (no Gatherer).
	Available bool
	Windows   []RateWindow
}

// RateWindow is the outcomes counted over one window.
type RateWindow struct {
	Label    string
	Seconds  float64
	Outcomes []OutcomeCount
	Total    float64
}

// OutcomeCount is one outcome's count in a window.
type OutcomeCount struct {
	Outcome string
	Count   float64
	PerSec  float64
}

// rateSampler keeps the cumulative webhook counters sampled every
// sampleEvery for the last sampleKeep, so rates over the last minute and
// quarter hour can be read without a time-series database.
type rateSampler struct {
	gatherer prometheus.Gatherer
	now      func() time.Time

	mu      sync.Mutex
	samples []rateSample
}

type rateSample struct {
	at     time.Time
	counts map[string]float64 // outcome -> cumulative count
}

const (
	sampleEvery = 10 * time.Second
	sampleKeep  = 16 * time.Minute
)

func newRateSampler(g prometheus.Gatherer) *rateSampler {
	return &rateSampler{gatherer: g, now: time.Now}
}

func (r *rateSampler) run(ctx context.Context) {
	if r.gatherer == nil {
		return
	}
	r.sample()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			r.sample()
		}
	}
}

// sample records the counters now and drops samples older than sampleKeep.
func (r *rateSampler) sample() rateSample {
	s := rateSample{at: r.now(), counts: r.read()}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, s)
	for len(r.samples) > 1 && s.at.Sub(r.samples[0].at) > sampleKeep {
		r.samples = r.samples[1:]
	}
	return s
}

// read sums orb_webhook_requests_total by outcome.
func (r *rateSampler) read() map[string]float64 {
	counts := map[string]float64{}
	families, err := r.gatherer.Gather()
	if err != nil {
		return counts
	}
	for _, f := range families {
		if f.GetName() != "orb_webhook_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					counts[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

// rates compares the counters now with the samples about a minute and a
// quarter hour old (or the oldest, while the process is younger).
func (r *rateSampler) rates() WebhookRates {
	if r.gatherer == nil {
		return WebhookRates{}
	}
	now := r.sample()
	r.mu.Lock()
	samples := slices.Clone(r.samples)
	r.mu.Unlock()
	out := WebhookRates{Available: true}
	for _, w := range []struct {
		label string
		span  time.Duration
	}{{"last minute", time.Minute}, {"last 15 minutes", 15 * time.Minute}} {
		base := samples[0]
		for _, s := range samples {
			if now.at.Sub(s.at) >= w.span {
				base = s
			}
		}
		out.Windows = append(out.Windows, window(w.label, base, now))
	}
	return out
}

func window(label string, base, now rateSample) RateWindow {
	w := RateWindow{Label: label, Seconds: now.at.Sub(base.at).Seconds()}
	for outcome, n := range now.counts {
		d := n - base.counts[outcome]
		if d <= 0 {
			continue
		}
		oc := OutcomeCount{Outcome: outcome, Count: d}
		if w.Seconds > 0 {
			oc.PerSec = d / w.Seconds
		}
		w.Outcomes = append(w.Outcomes, oc)
		w.Total += d
	}
	slices.SortFunc(w.Outcomes, func(a, b OutcomeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Outcome, b.Outcome))
	})
	return w
}
