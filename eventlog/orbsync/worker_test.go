package orbsync

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWorkerStopContract(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	w := b.runner.NewReconciler(time.Hour)
	w.Stop() // Before Start: nothing to wait for.
	w.Stop()
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Started():
		t.Fatal("a stopped worker started")
	default:
	}

	w = b.runner.NewRefetcher(0)
	if err := w.Start(context.Background()); err == nil {
		t.Fatal("a zero interval was accepted")
	}
}

// TestRefetcherFollowsTheLog starts the refetch worker on a log with
// history: the history is not replayed, a new event is acted on.
func TestRefetcherFollowsTheLog(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	b.srv.Put("customers", customer(1, map[string]any{"balance": "7.00"}))
	old := webhookBody("evt_old", "customer.balance_transaction_created", t0, "customer", customer(1, nil))
	b.appendWebhook(t, old)

	w := b.runner.NewRefetcher(10 * time.Millisecond)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	<-w.Started()
	b.appendWebhook(t, webhookBody("evt_new", "customer.balance_transaction_created", t0.Add(time.Second), "customer", customer(1, nil)))
	eventually(t, "the refetched customer", func() bool { return b.countEvents(t, "type = 'snapshot.customer'") == 1 })
	w.Stop()
	w.Stop()
	if n := len(requestsTo(b.srv, "customers/"+customerID(1))); n != 1 {
		t.Fatalf("%d refetches; the old event must not be replayed", n)
	}
}

// TestPeriodicPassesResumeTheirSchedule: a reconcile that ran recently (by
// this or another replica) is not run again at start-up.
func TestPeriodicPassesResumeTheirSchedule(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{now: c.Now})
	ctx := context.Background()
	due := b.runner.firstDue(JobReconcile, time.Hour)
	if d, err := due(ctx); err != nil || d != 0 {
		t.Fatalf("never ran: wait %s, %v", d, err)
	}
	if err := b.runner.savePass(ctx, JobReconcile, c.now.Add(-20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, err := due(ctx); err != nil || d != 40*time.Minute {
		t.Fatalf("ran 20 minutes ago: wait %s, %v", d, err)
	}
	// A pass found not due does nothing, not even a request.
	ran := false
	if err := b.runner.duePass(ctx, JobReconcile, time.Hour, func(context.Context, checkpoint) error { ran = true; return nil }); err != nil || ran {
		t.Fatalf("pass ran early (%v)", err)
	}
	c.now = c.now.Add(time.Hour)
	if err := b.runner.duePass(ctx, JobReconcile, time.Hour, func(context.Context, checkpoint) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("due pass did not run (%v)", err)
	}
	if cp, _ := b.runner.loadCheckpoint(ctx, JobReconcile); cp.passedFrom == nil || !cp.passedFrom.Equal(c.now) {
		t.Fatalf("pass start not recorded: %v", cp.passedFrom)
	}
}

// TestRepairerReadsBackToTheLastPass: after a long stop, a repair pass reads
// back to the last complete pass, not just its lookback window.
func TestRepairerReadsBackToTheLastPass(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{now: c.Now})
	ctx := context.Background()
	last := c.now.Add(-72 * time.Hour)
	if err := b.runner.savePass(ctx, JobRepair, last); err != nil {
		t.Fatal(err)
	}
	w := b.runner.NewRepairer(RepairSchedule{Interval: time.Hour, Lookback: 24 * time.Hour, UndeliveredOnly: true})
	if err := w.pass(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := requestsTo(b.srv, "webhook_events")
	if len(reqs) != 1 || reqs[0].Query.Get("created_at[gte]") != last.Add(-repairOverlap).Format(time.RFC3339) ||
		reqs[0].Query.Get("delivery_success") != "false" {
		t.Fatalf("requests %v", reqs)
	}
}

// TestSkippedTurnIsNotASuccess: a replica whose turn finds the job locked
// by another replica records no success, so the last-success gauge keeps
// aging while the lock holder hangs or fails; the gauge exists from the
// worker's start, so it ages even if no pass ever succeeds.
func TestSkippedTurnIsNotASuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	reg := prometheus.NewRegistry()
	b.runner.cfg.Metrics = NewMetrics(reg)
	ctx := context.Background()
	passes := 0
	w := b.runner.newWorker("test_job", time.Hour, func(context.Context) (time.Duration, error) { return time.Hour, nil },
		func(context.Context) error { passes++; return nil })
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	started := lastSuccess(t, reg, "test_job")
	if started == 0 {
		t.Fatal("no last-success time before the first pass")
	}

	unlock, err := b.runner.tryLock(ctx, "orb-sync:test_job:"+b.schema.Name) // Another replica's pass.
	if err != nil {
		t.Fatal(err)
	}
	b.runner.cfg.Metrics.lastSuccess.WithLabelValues("test_job").Set(1) // Mark, so a write shows.
	failures := 0
	wait, ok := w.turn(ctx, slog.New(slog.DiscardHandler), &failures)
	if !ok || wait != time.Hour || passes != 0 {
		t.Fatalf("locked turn: wait %s, ok %v, passes %d", wait, ok, passes)
	}
	if got := lastSuccess(t, reg, "test_job"); got != 1 {
		t.Fatalf("a skipped turn set the last success to %v", got)
	}

	unlock()
	if _, ok := w.turn(ctx, slog.New(slog.DiscardHandler), &failures); !ok || passes != 1 {
		t.Fatalf("unlocked turn: ok %v, passes %d", ok, passes)
	}
	if got := lastSuccess(t, reg, "test_job"); got < started {
		t.Fatalf("a pass did not set the last success: %v", got)
	}
}

func lastSuccess(t *testing.T, reg *prometheus.Registry, job string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "orb_sync_last_success_timestamp_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "job" && l.GetValue() == job {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}
