package orbsync

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

func TestSnapshotBodyIsAWebhookLookalike(t *testing.T) {
	t.Parallel()
	obj := json.RawMessage(`{"id":"cus_1", "name":"A \"quoted\" name","balance":"0.00"}`)
	readAt := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	ev, err := newSnapshot("customer", obj, readAt, OriginBackfill, contentKey("customer", obj), "")
	if err != nil {
		t.Fatal(err)
	}
	env, err := eventlog.ParseEnvelope(ev.Body)
	if err != nil {
		t.Fatal(err)
	}
	if env != ev.Envelope || env.Type != "snapshot.customer" || env.ResourceType != "customer" || env.ResourceID != "cus_1" ||
		ev.Source != eventlog.SourceSnapshot || !strings.HasPrefix(env.ID, "snap_") {
		t.Fatalf("event %+v", ev)
	}
	var body struct {
		CreatedAt  string            `json:"created_at"`
		Customer   json.RawMessage   `json:"customer"`
		Properties map[string]string `json:"properties"`
	}
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.CreatedAt != "2025-03-04T04:06:07.123456Z" || !env.CreatedAt.Equal(readAt.Truncate(time.Microsecond)) {
		t.Errorf("created_at %q (%s)", body.CreatedAt, env.CreatedAt)
	}
	if !bytes.Equal(body.Customer, obj) {
		t.Errorf("object not verbatim: %s", body.Customer)
	}
	if body.Properties["origin"] != "backfill" {
		t.Errorf("properties %v", body.Properties)
	}
}

func TestSnapshotIDs(t *testing.T) {
	t.Parallel()
	a, b := contentKey("customer", []byte(`{"id":"c","v":1}`)), contentKey("customer", []byte(`{"id":"c","v":2}`))
	if a == b || contentKey("invoice", []byte(`{"id":"c","v":1}`)) == a {
		t.Fatal("content keys collide")
	}
	if snapshotID(a, "") != snapshotID(a, "") || snapshotID(a, "") == snapshotID(a, "evt_1") {
		t.Fatal("snapshot ids must be deterministic and depend on the base")
	}
	if !sameState(snapshotID(a, "evt_1"), a) || sameState(snapshotID(b, "evt_1"), a) || sameState("evt_1", a) {
		t.Fatal("sameState")
	}
}

// TestSnapshotOrdersByReadTime checks the order key both ways, on the
// (created_at, seq) order the projections use: a snapshot read before a
// webhook's created_at orders before it even though it is appended later,
// and one read after orders after it.
func TestSnapshotOrdersByReadTime(t *testing.T) {
	t.Parallel()
	hook := t0.Add(time.Hour)
	var now time.Time
	b := setup(t, testOpts{now: func() time.Time { return now }})
	b.srv.Put("customers", customer(1, map[string]any{"balance": "10.00"}))
	b.appendWebhook(t, webhookBody("evt_hook", "customer.edited", hook, "customer", customer(1, map[string]any{"balance": "5.00"})))
	customers, _ := ParseEntities([]string{"customers"})

	now = hook.Add(-time.Second) // Read before the webhook was created.
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers}); err != nil {
		t.Fatal(err)
	}
	b.srv.Put("customers", customer(1, map[string]any{"balance": "20.00"}))
	now = hook.Add(time.Second) // Read after it.
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers, Restart: true}); err != nil {
		t.Fatal(err)
	}

	rows, err := b.schema.Pool.Query(context.Background(), "select event_id, seq, payload->'customer'->>'balance' from "+
		b.schema.Name+".events where resource_id = $1 order by created_at, seq", customerID(1))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var seqs []int64
	for rows.Next() {
		var id, balance string
		var seq int64
		if err := rows.Scan(&id, &seq, &balance); err != nil {
			t.Fatal(err)
		}
		order = append(order, balance)
		seqs = append(seqs, seq)
	}
	if strings.Join(order, " ") != "10.00 5.00 20.00" {
		t.Fatalf("balances in (created_at, seq) order: %v; want the early snapshot, the webhook, the late snapshot", order)
	}
	if !(seqs[0] > seqs[1] && seqs[2] > seqs[1]) {
		t.Fatalf("seqs %v: the early snapshot should have been appended after the webhook", seqs)
	}
}

// TestSnapshotStoresAStateThatComesBack: 10 → 20 → 10 stores three
// snapshots, so the newest one says 10; reading 10 again stores nothing.
func TestSnapshotStoresAStateThatComesBack(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	for _, balance := range []string{"10.00", "20.00", "10.00", "10.00"} {
		obj := customer(1, map[string]any{"balance": balance})
		if _, err := b.runner.writeSnapshots(ctx, snapshotBatch{resource: "customer", origin: OriginRefetch,
			readAt: time.Now(), objects: []json.RawMessage{obj}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var balances []string
	rows, _ := b.schema.Pool.Query(ctx, "select payload->'customer'->>'balance' from "+b.schema.Name+".events order by created_at, seq")
	for rows.Next() {
		var s string
		_ = rows.Scan(&s)
		balances = append(balances, s)
	}
	if strings.Join(balances, " ") != "10.00 20.00 10.00" {
		t.Fatalf("stored balances %v, want 10 20 10", balances)
	}
}
