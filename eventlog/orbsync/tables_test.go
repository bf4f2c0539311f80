package orbsync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector"
)

// project folds the whole log into every projection table through the
// projector's public rebuild, which gives the tables the live projector
// would (the projector's tests check that both agree row for row).
func (b *testBundle) project(t testing.TB) {
	t.Helper()
	r, err := projector.NewRebuilder(b.schema.Pool, projector.RebuildConfig{Schema: b.schema.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rebuild(context.Background(), names(projector.Projections())...); err != nil {
		t.Fatalf("projecting: %v", err)
	}
}

func names(list []projector.Projection) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name
	}
	return out
}

// customersTable renders the customers table, every column but the log
// position (which differs between two logs holding the same events).
func (b *testBundle) customersTable(t testing.TB) string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(),
		"select to_jsonb(c) - 'last_event_seq' from "+b.schema.Name+".customers c order by id")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(docs, "\n")
}

// TestRepairedTablesEqualUnbrokenOnes: after an outage dropped a third of
// the webhooks, repair brings the tables back to exactly what they would
// have been.
func TestRepairedTablesEqualUnbrokenOnes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 100})
	bodies, items, dropped := webhookHistory(120)
	b.srv.Put("webhook_events", items...)
	droppedSet := map[string]bool{}
	for _, id := range dropped {
		droppedSet[id] = true
	}
	for i := range 120 {
		if id := fmt.Sprintf("evt_%04d", i); !droppedSet[id] {
			b.appendWebhook(t, bodies[id])
		}
	}
	ref := setup(t, testOpts{})
	for i := range 120 {
		ref.appendWebhook(t, bodies[fmt.Sprintf("evt_%04d", i)])
	}
	ref.project(t)

	b.project(t)
	if b.customersTable(t) == ref.customersTable(t) {
		t.Fatal("the gap left no trace in the tables: the test proves nothing")
	}
	if _, err := b.runner.Repair(context.Background(), RepairOptions{Since: t0}); err != nil {
		t.Fatal(err)
	}
	b.project(t) // Catch up, as the live projector does after repair appends.
	if got, want := b.customersTable(t), ref.customersTable(t); got != want {
		t.Fatalf("repaired tables differ from unbroken ones:\n%s\nvs\n%s", got, want)
	}
}

// TestSnapshotAndWebhookOrderInTables checks both orders at table level: a
// snapshot read before a webhook was created loses to it even when stored
// later, and one read after the webhook wins.
func TestSnapshotAndWebhookOrderInTables(t *testing.T) {
	t.Parallel()
	hook := t0.Add(time.Hour)
	customers, _ := ParseEntities([]string{"customers"})
	balance := func(b *testBundle) string {
		t.Helper()
		var v string
		if err := b.schema.Pool.QueryRow(context.Background(), "select balance::text from "+b.schema.Name+
			".customers where id = $1", customerID(1)).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name   string
		readAt time.Time
		want   string
	}{
		{"snapshot read before the webhook", hook.Add(-time.Second), "5.00"},
		{"snapshot read after the webhook", hook.Add(time.Second), "20.00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, testOpts{now: func() time.Time { return tt.readAt }})
			b.srv.Put("customers", customer(1, map[string]any{"balance": "20.00"}))
			// The webhook is stored first; the snapshot arrives later.
			b.appendWebhook(t, webhookBody("evt_hook", "customer.edited", hook, "customer", customer(1, map[string]any{"balance": "5.00"})))
			b.project(t)
			if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers}); err != nil {
				t.Fatal(err)
			}
			b.project(t)
			if got := balance(b); got != tt.want {
				t.Fatalf("balance %s, want %s", got, tt.want)
			}
		})
	}
}
