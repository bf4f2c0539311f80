package orbsync

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

func TestRefetchReadsAgainWhatPayloadsCannotTell(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{now: c.Now})
	ctx := context.Background()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	obj := func(id string, fields map[string]any) json.RawMessage { return orbapitest.Object(id, t0, fields) }

	// The API's current state.
	b.srv.Put("customers", customer(1, map[string]any{"balance": "30.00"}))
	b.srv.Put("invoices", obj("inv_min", map[string]any{"status": "issued", "line_items": []any{}, "invoice_date": orbapitest.Timestamp(t0)}))
	b.srv.Put("metrics", obj("bm_1", nil), obj("bm_2", nil))
	b.srv.Put("plans", obj("plan_1", map[string]any{"prices": []any{}}))
	b.srv.Put("subscriptions", obj("sub_light", map[string]any{"price_intervals": []any{}}), obj("sub_past", map[string]any{"price_intervals": []any{}}))
	if err := b.runner.saveSeq(ctx, JobRefetch, 0); err != nil {
		t.Fatal(err)
	}

	// What the log received.
	for i, balance := range []string{"10.00", "20.00", "30.00"} { // A same-second burst.
		b.appendWebhook(t, webhookBody(fmt.Sprintf("evt_bal_%d", i), "customer.balance_transaction_created", at(1), "customer",
			customer(1, map[string]any{"balance": balance})))
	}
	b.appendWebhook(t, webhookBody("evt_inv_min", "invoice.invoice_date_elapsed", at(2), "invoice",
		obj("inv_min", map[string]any{"status": "issued", "customer": map[string]any{"id": customerID(1)}})))
	b.appendWebhook(t, webhookBody("evt_inv_full", "invoice.issued", at(3), "invoice", obj("inv_full", map[string]any{"line_items": []any{}})))
	b.appendWebhook(t, webhookBody("evt_bm", "billable_metric.edited", at(4), "billable_metric", json.RawMessage(`{"name":"no id"}`)))
	b.appendWebhook(t, webhookBody("evt_plan", "plan.version_created", at(5), "plan", json.RawMessage(`{"id":"plan_1","external_plan_id":null,"name":"P"}`)))
	b.appendWebhook(t, webhookBody("evt_plan_ext", "plan.default_version_set", at(6), "plan", json.RawMessage(`{"external_plan_id":"ext_plan","name":"P"}`)))
	b.appendWebhook(t, webhookBody("evt_sub_light", "subscription.alert_disabled", at(7), "subscription", obj("sub_light", map[string]any{"status": "active"})))
	b.appendWebhook(t, webhookBody("evt_sub_full", "subscription.edited", at(8), "subscription",
		obj("sub_full", map[string]any{"price_intervals": []any{}, "current_billing_period_end_date": "2026-02-01T00:00:00+00:00"})))
	b.appendWebhook(t, webhookBody("evt_sub_past", "subscription.edited", at(9), "subscription",
		obj("sub_past", map[string]any{"price_intervals": []any{}, "current_billing_period_end_date": "2025-12-01T00:00:00+00:00"})))

	if err := b.runner.RefetchUntilCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		path string
		n    int
	}{
		{"customers/" + customerID(1), 1}, // Three events, one read.
		{"invoices/inv_min", 1},
		{"invoices/inv_full", 0},
		{"metrics", 1},
		{"plans/plan_1", 1},
		{"plans/external_plan_id/ext_plan", 1}, // Not served by the fake: a 404, skipped.
		{"subscriptions/sub_light", 1},
		{"subscriptions/sub_full", 0},
		{"subscriptions/sub_past", 1}, // Its period had ended when the event was read.
	} {
		if got := len(requestsTo(b.srv, want.path)); got != want.n {
			t.Errorf("GET %s: %d requests, want %d", want.path, got, want.n)
		}
	}
	for resource, ids := range map[string][]string{
		"customer": {customerID(1)}, "invoice": {"inv_min"}, "billable_metric": {"bm_1", "bm_2"},
		"plan": {"plan_1"}, "subscription": {"sub_light", "sub_past"},
	} {
		b.assertStoredOnce(t, resource, ids)
	}
	if n := b.countEvents(t, "payload->'properties'->>'origin' = 'refetch'"); n != 7 {
		t.Errorf("%d refetch snapshots, want 7", n)
	}
	cp, _ := b.runner.loadCheckpoint(ctx, JobRefetch)
	head, _ := b.runner.logHead(ctx)
	if cp.seq == nil || *cp.seq != head {
		t.Fatalf("checkpoint %v, head %d", cp.seq, head)
	}

	// Caught up: another pass reads nothing.
	requests := b.srv.RequestCount()
	if err := b.runner.RefetchUntilCaughtUp(ctx); err != nil || b.srv.RequestCount() != requests {
		t.Fatalf("second pass: %v, %d requests", err, b.srv.RequestCount()-requests)
	}
}

// TestRefetchSkipsWhatCannotBeReadButRetriesOutages: an object Orb refuses
// for good (422) is skipped so it cannot hold up the rest; an outage (5xx
// after every retry) leaves the position for the next pass.
func TestRefetchSkipsWhatCannotBeReadButRetriesOutages(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	b.srv.Put("customers", customer(1, nil), customer(2, nil))
	if err := b.runner.saveSeq(ctx, JobRefetch, 0); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		b.appendWebhook(t, webhookBody(fmt.Sprintf("evt_%d", i), "customer.balance_transaction_created", t0, "customer", customer(i, nil)))
	}

	b.srv.Inject(6, orbapitest.Fault{Status: http.StatusServiceUnavailable}) // First attempt and 5 retries.
	if err := b.runner.RefetchUntilCaughtUp(ctx); err == nil {
		t.Fatal("an outage was not reported")
	}
	if cp, _ := b.runner.loadCheckpoint(ctx, JobRefetch); *cp.seq != 0 {
		t.Fatalf("position moved to %d during an outage", *cp.seq)
	}

	b.srv.Inject(1, orbapitest.Fault{Status: http.StatusUnprocessableEntity})
	if err := b.runner.RefetchUntilCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	b.assertStoredOnce(t, "customer", []string{customerID(2)})
	head, _ := b.runner.logHead(ctx)
	if cp, _ := b.runner.loadCheckpoint(ctx, JobRefetch); *cp.seq != head {
		t.Fatalf("position %d, want the head %d", *cp.seq, head)
	}
}
