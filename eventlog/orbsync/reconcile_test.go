package orbsync

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

// clock is a settable test clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestReconcileStoresChangesAndMarksVanishedCustomers(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{pageSize: 15, now: c.Now})
	ids := fakeAccount(t, b.srv, 40)
	ctx := context.Background()

	rep, err := b.runner.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, collection := range []string{"plans", "metrics", "items", "coupons", "prices", "customers"} {
		b.assertStoredOnce(t, resourceOf(collection), ids[collection])
	}
	if rep.Missing != 0 || len(rep.Entities) != len(reconcileEntities) {
		t.Fatalf("first pass: %+v", rep)
	}
	// Backfill-only entities are not listed by reconcile.
	if len(requestsTo(b.srv, "invoices")) != 0 || len(requestsTo(b.srv, "subscriptions")) != 0 {
		t.Error("reconcile listed invoices or subscriptions")
	}

	// An hour later nothing changed: nothing is stored.
	events := b.countEvents(t, "")
	c.now = c.now.Add(time.Hour)
	if rep, err = b.runner.Reconcile(ctx); err != nil || b.countEvents(t, "") != events {
		t.Fatalf("unchanged pass stored %d events (%+v, %v)", b.countEvents(t, "")-events, rep, err)
	}

	// A plan changes and a customer is deleted: one snapshot, one marker.
	b.srv.Put("plans", orbapitest.Object("plan_002", t0.Add(2*time.Hour), map[string]any{"name": "renamed"}))
	gone := ids["customers"][3]
	b.srv.Delete("customers", gone)
	c.now = c.now.Add(time.Hour)
	if rep, err = b.runner.Reconcile(ctx); err != nil || rep.Missing != 1 {
		t.Fatalf("pass after a deletion: %+v, %v", rep, err)
	}
	if got := b.countEvents(t, ""); got != events+2 {
		t.Fatalf("%d new events, want a plan snapshot and a marker", got-events)
	}
	var body []byte
	var source, resourceType, resourceID string
	var createdAt time.Time
	var compressed []byte
	err = b.schema.Pool.QueryRow(ctx, "select "+eventlog.BodyColumns+", source, resource_type, resource_id, created_at from "+b.schema.Name+
		".events where type = 'reconcile.missing'").Scan(&body, &compressed, &source, &resourceType, &resourceID, &createdAt)
	if err == nil {
		body, err = eventlog.DecodeBody(body, compressed)
	}
	if err != nil || source != "snapshot" || resourceType != "customer" || resourceID != gone || !createdAt.Equal(c.now) {
		t.Fatalf("marker: %s %s %s %s %v", source, resourceType, resourceID, createdAt, err)
	}
	var marker struct {
		Customer   struct{ ID string }
		Properties map[string]string
	}
	if err := json.Unmarshal(body, &marker); err != nil || marker.Customer.ID != gone ||
		!strings.HasPrefix(marker.Properties["last_event_id"], "snap_") || marker.Properties["origin"] != "reconcile" {
		t.Fatalf("marker body %s (%v)", body, err)
	}

	// Marked once, not on every pass.
	events = b.countEvents(t, "")
	c.now = c.now.Add(time.Hour)
	if rep, err = b.runner.Reconcile(ctx); err != nil || rep.Missing != 0 || b.countEvents(t, "") != events {
		t.Fatalf("pass after marking: %+v, %v", rep, err)
	}

	// If it comes back, its snapshot orders after the marker.
	b.srv.Put("customers", customer(3, nil))
	c.now = c.now.Add(time.Hour)
	if _, err = b.runner.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	var newest string
	if err := b.schema.Pool.QueryRow(ctx, "select type from "+b.schema.Name+".events where resource_id = $1 order by created_at desc, seq desc limit 1",
		gone).Scan(&newest); err != nil || newest != "snapshot.customer" {
		t.Fatalf("newest event of a returning customer: %q, %v", newest, err)
	}
}

// TestReconcileRefusesMassDisappearance: a key for another account (or test
// mode instead of live) lists none of the known customers; that must not
// mark them all missing.
func TestReconcileRefusesMassDisappearance(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{now: c.Now})
	ids := putCustomers(t, b.srv, 40)
	if _, err := b.runner.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:30] {
		b.srv.Delete("customers", id)
	}
	c.now = c.now.Add(time.Hour)
	_, err := b.runner.Reconcile(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to mark 30 of 40 customers missing") {
		t.Fatalf("err = %v", err)
	}
	if n := b.countEvents(t, "type = 'reconcile.missing'"); n != 0 {
		t.Fatalf("%d markers", n)
	}
}

func TestReconcileRefetchesSubscriptionsWhosePeriodEnded(t *testing.T) {
	t.Parallel()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := setup(t, testOpts{now: c.Now})
	sub := func(id, status, end string) json.RawMessage {
		return orbapitest.Object(id, t0, map[string]any{"status": status, "current_billing_period_end_date": end, "price_intervals": []any{}})
	}
	// Stored: one active subscription past its period, one current, one ended.
	b.appendWebhook(t, webhookBody("evt_1", "subscription.started", t0, "subscription", sub("sub_stale", "active", "2025-12-01T00:00:00+00:00")))
	b.appendWebhook(t, webhookBody("evt_2", "subscription.started", t0, "subscription", sub("sub_current", "active", "2026-02-01T00:00:00+00:00")))
	b.appendWebhook(t, webhookBody("evt_3", "subscription.ended", t0, "subscription", sub("sub_ended", "ended", "2025-12-01T00:00:00+00:00")))
	b.srv.Put("subscriptions", sub("sub_stale", "active", "2026-01-31T00:00:00+00:00"))

	rep, err := b.runner.Reconcile(context.Background())
	if err != nil || rep.StaleSubscriptions != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	got := requestsTo(b.srv, "subscriptions/sub_stale")
	if len(got) != 1 || len(requestsTo(b.srv, "subscriptions/sub_current")) != 0 {
		t.Fatalf("subscription requests: %v", b.srv.Requests())
	}
	c.now = c.now.Add(time.Hour)
	if rep, err = b.runner.Reconcile(context.Background()); err != nil || rep.StaleSubscriptions != 0 {
		t.Fatalf("after the refetch: %+v, %v", rep, err)
	}
}
