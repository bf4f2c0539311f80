package projector

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// TestLateEventBehindAFullObjectIsNotRecomputed: a plan is embedded in every
// subscription payload, so its history is as long as the log. A late
// subscription event older than the plan row's newest full object cannot
// change the plan; it must be skipped, not answered by recomputing the plan
// from its whole history (which took seconds per round under load).
func TestLateEventBehindAFullObjectIsNotRecomputed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.append(t,
		event(t, "evt_s1", "subscription.edited", at(10), map[string]any{"subscription": subscriptionObj(t, "sub_a", "cus_a", "plan_p")}),
		event(t, "evt_s2", "subscription.edited", at(20), map[string]any{"subscription": subscriptionObj(t, "sub_b", "cus_b", "plan_p")}),
	)
	b.drain(t, 100)
	before := b.row(t, "plans", "plan_p")

	// A delivery created before the plan row's newest full object arrives.
	b.append(t, event(t, "evt_late", "subscription.edited", at(5), map[string]any{"subscription": subscriptionObj(t, "sub_c", "cus_c", "plan_p")}))
	head, err := readHead(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	target, err := fold.Compile(ctx, b.schema.Pool, b.schema.Name, "plans", "plans")
	if err != nil {
		t.Fatal(err)
	}
	var res fold.ApplyResult
	err = pgx.BeginFunc(ctx, b.schema.Pool, func(tx pgx.Tx) error {
		res, err = target.Apply(ctx, tx, head-1, head)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Recomputed != 0 || res.Rows != 0 {
		t.Fatalf("late event behind a full object: %+v; want nothing recomputed or written", res)
	}
	if after := b.row(t, "plans", "plan_p"); after["last_event_id"] != before["last_event_id"] || after["last_event_id"] != "evt_s2" {
		t.Fatalf("plan row moved: %v -> %v", before["last_event_id"], after["last_event_id"])
	}
	// The subscription itself is new, and lands.
	b.drain(t, 100)
	b.row(t, "subscriptions", "sub_c")
	b.checkRebuildMatches(t)
}
