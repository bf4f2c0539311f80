package orbsync

import (
	"context"
	"testing"
	"time"
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
