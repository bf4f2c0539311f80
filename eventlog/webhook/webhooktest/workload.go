package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
)

// Workload is the measurement method of issue 10: a seed phase creating
// Entities of each kind, then closed-loop phases updating random existing
// entities with each number of senders in Phases, PhaseDuration each, with
// the reference mix. Run it against a fresh database and a fresh serve
// (reference.sh does, several times, for each serve mode).
type Workload struct {
	// URL and Secret as in Config.
	URL, Secret string
	// Entities per kind; defaults to 10,000.
	Entities int
	// SeedConcurrency is the senders of the seed phase; defaults to 32.
	SeedConcurrency int
	// Phases are the sender counts of the measured phases, in order;
	// defaults to 1, 8 and 32.
	Phases []int
	// PhaseDuration defaults to 20 s.
	PhaseDuration time.Duration
	// Settle is the pause after the seed and between phases, so that one
	// phase's backlog (the projector's, autovacuum's) is not measured in
	// the next; defaults to 2 s.
	Settle time.Duration
	// Probe, if its ServePID is set, measures each phase's cost.
	Probe Probe
}

// PhaseReport is one phase's result.
type PhaseReport struct {
	Name    string // "seed" or "senders=N"
	Senders int
	Report
	Usage    Usage
	HasUsage bool
}

// Acked is the requests answered 2xx.
func (r Report) Acked() int {
	n := r.Requests - r.Errors
	for _, c := range r.Statuses {
		n -= c
	}
	return n
}

// String renders a phase the way reference.sh collects it: one line of
// key=value pairs.
func (p PhaseReport) String() string {
	s := fmt.Sprintf("phase=%s senders=%d %s acked=%d mean_body=%d", p.Name, p.Senders, p.Report, p.Acked(), p.BodyBytes/int64(max(p.Requests, 1)))
	if p.HasUsage {
		u := p.Usage
		perEvent := 0.0
		if n := p.Acked(); n > 0 {
			perEvent = float64(u.PostgresCPU.Microseconds()) / 1000 / float64(n)
		}
		s += fmt.Sprintf(" rss_max_mb=%.1f serve_cpu_s=%.2f pg_cpu_s=%.2f pg_backends=%d pg_cpu_ms_per_event=%.3f serve_cores=%.2f pg_cores=%.2f lag_max=%d lag_end=%d",
			float64(u.MaxRSSBytes)/(1<<20), u.ServeCPU.Seconds(), u.PostgresCPU.Seconds(), u.Backends, perEvent,
			u.ServeCPU.Seconds()/p.Elapsed.Seconds(), u.PostgresCPU.Seconds()/p.Elapsed.Seconds(), u.MaxLagEvents, u.EndLagEvents)
	}
	return s
}

func (w Workload) withDefaults() Workload {
	if w.Entities <= 0 {
		w.Entities = 10000
	}
	if w.SeedConcurrency <= 0 {
		w.SeedConcurrency = 32
	}
	if len(w.Phases) == 0 {
		w.Phases = []int{1, 8, 32}
	}
	if w.PhaseDuration <= 0 {
		w.PhaseDuration = 20 * time.Second
	}
	if w.Settle <= 0 {
		w.Settle = 2 * time.Second
	}
	return w
}

// RunWorkload runs the seed and every phase, calling each with its report
// as soon as it ends, and returns them all.
func RunWorkload(ctx context.Context, w Workload, each func(PhaseReport)) ([]PhaseReport, error) {
	w = w.withDefaults()
	var reports []PhaseReport
	seed := Config{URL: w.URL, Secret: w.Secret, Concurrency: w.SeedConcurrency, Entities: w.Entities, Seed: true}
	phases := []Config{seed}
	for _, n := range w.Phases {
		phases = append(phases, Config{URL: w.URL, Secret: w.Secret, Concurrency: n, Entities: w.Entities, Duration: w.PhaseDuration})
	}
	for i, cfg := range phases {
		pr, err := runPhase(ctx, w.Probe, cfg)
		if err != nil {
			return reports, err
		}
		if i == 0 {
			pr.Name = "seed"
		}
		reports = append(reports, pr)
		if each != nil {
			each(pr)
		}
		if err := failed(pr); err != nil {
			return reports, err
		}
		if !sleep.For(ctx, w.Settle) {
			return reports, ctx.Err()
		}
	}
	return reports, nil
}

// runPhase runs one closed-loop phase under the probe.
func runPhase(ctx context.Context, probe Probe, cfg Config) (PhaseReport, error) {
	pr := PhaseReport{Name: fmt.Sprintf("senders=%d", cfg.Concurrency), Senders: cfg.Concurrency}
	var s *sampling
	if probe.ServePID > 0 {
		var err error
		if s, err = probe.start(ctx); err != nil {
			return pr, err
		}
	}
	report, err := Run(ctx, cfg)
	pr.Report = report
	if s != nil {
		usage, uerr := s.finish(ctx)
		pr.Usage, pr.HasUsage = usage, uerr == nil
		err = errors.Join(err, uerr)
	}
	return pr, err
}

// failed turns a phase in which requests failed into an error: its
// figures would not measure the service.
func failed(pr PhaseReport) error {
	if pr.Errors == 0 && pr.Acked() == pr.Requests {
		return nil
	}
	return fmt.Errorf("phase %s: %d of %d requests failed (statuses %v, first error %q)",
		pr.Name, pr.Requests-pr.Acked(), pr.Requests, pr.Statuses, strings.TrimSpace(pr.FirstError))
}
