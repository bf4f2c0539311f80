package projector

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestPacerGap(t *testing.T) {
	t.Parallel()
	cfg := Config{RoundInterval: 100 * time.Millisecond, RoundIntervalMax: time.Second, RoundEvents: 500}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		elapsed  time.Duration // since the previous round began
		newHead  int64         // previous head 1,000
		wantGap  time.Duration
		firstRun bool
	}{
		{name: "first round", firstRun: true, newHead: 1000, wantGap: 100 * time.Millisecond},
		{name: "nothing new", elapsed: 200 * time.Millisecond, newHead: 1000, wantGap: 100 * time.Millisecond},
		{name: "250 events/s gathers 500 in 2 s, capped", elapsed: 400 * time.Millisecond, newHead: 1100, wantGap: time.Second},
		{name: "1,000 events/s gathers 500 in 500 ms", elapsed: 200 * time.Millisecond, newHead: 1200, wantGap: 500 * time.Millisecond},
		{name: "10,000 events/s: the least gap", elapsed: 100 * time.Millisecond, newHead: 2000, wantGap: 100 * time.Millisecond},
		{name: "one event after an hour idle", elapsed: time.Hour, newHead: 1001, wantGap: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := newPacer(cfg)
			if !tc.firstRun {
				pc.began(t0, 1000)
			}
			start := t0.Add(tc.elapsed)
			pc.began(start, tc.newHead)
			if pc.gap != tc.wantGap {
				t.Errorf("gap %s, want %s", pc.gap, tc.wantGap)
			}
			if got := pc.due(); !got.Equal(start.Add(tc.wantGap)) {
				t.Errorf("due %s, want %s after the round began", got, tc.wantGap)
			}
		})
	}
}

// TestPacerGathersTrickle: commits trickling in at a steady rate are
// applied in rounds of about RoundEvents positions, not one round per
// RoundInterval, and each still within RoundIntervalMax plus a round.
func TestPacerGathersTrickle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	const roundMax = 400 * time.Millisecond
	p := b.start(t, Config{PollInterval: time.Hour, RoundInterval: 10 * time.Millisecond, RoundIntervalMax: roundMax,
		RoundEvents: 40, Metrics: NewMetrics(reg)})
	waitFor(t, "leadership", p.IsLeader)
	b.waitCaughtUp(t)
	start := time.Now()
	for i, ev := range distinctCustomers(t, 0, 80) {
		b.append(t, ev)
		if i%4 == 3 {
			time.Sleep(5 * time.Millisecond) // Pace the commits: each rings the doorbell.
		}
	}
	b.waitCaughtUp(t)
	elapsed := time.Since(start)
	batches := metricValue(t, reg, "orb_projection_batch_seconds", "customers")
	// At a fixed 10 ms interval this would be about elapsed / 10 ms.
	if limit := float64(elapsed/(roundMax/4)) + 3; batches > limit {
		t.Errorf("80 commits in %s were applied in %.0f batches, want at most %.0f", elapsed, batches, limit)
	}
	if got := b.count(t, "customers"); got != 80 {
		t.Errorf("%d customers, want 80", got)
	}
}
