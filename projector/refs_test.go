package projector

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// setRefsTrigger turns the trigger that fills events.refs on or off, to
// append events as the log held them before migration 017. The schema
// goes back to the pool with it on.
func (b *testBundle) setRefsTrigger(t *testing.T, on bool) {
	t.Helper()
	set := func(on bool) error {
		verb := "disable"
		if on {
			verb = "enable"
		}
		_, err := b.schema.Pool.Exec(context.Background(), fmt.Sprintf("alter table %s %s trigger events_set_refs",
			pgx.Identifier{b.schema.Name, "events"}.Sanitize(), verb))
		return err
	}
	if err := set(on); err != nil {
		t.Fatal(err)
	}
	if !on {
		t.Cleanup(func() {
			if err := set(true); err != nil {
				t.Error(err)
			}
		})
	}
}

// countRefs is the number of events with refs.
func (b *testBundle) countRefs(t *testing.T) int {
	t.Helper()
	var n int
	err := b.schema.Pool.QueryRow(context.Background(), "select count(refs) from "+pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// copyWithoutRefs copies the events at positions up to upTo of from's log
// into b's, without refs (the trigger off), as a log appended before
// migration 017 holds them, and moves b's head after them.
func (b *testBundle) copyWithoutRefs(t *testing.T, from *testBundle, upTo int) {
	t.Helper()
	ctx := context.Background()
	b.setRefsTrigger(t, false)
	var cols string
	err := b.schema.Pool.QueryRow(ctx, `select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
		where attrelid = to_regclass($1) and attnum > 0 and not attisdropped and attname <> 'refs'`,
		pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf("insert into %s (%s) select %s from %s where seq <= $1", pgx.Identifier{b.schema.Name, "events"}.Sanitize(),
			cols, cols, pgx.Identifier{from.schema.Name, "events"}.Sanitize()),
		fmt.Sprintf("update %s set seq = $1", pgx.Identifier{b.schema.Name, "log_head"}.Sanitize()),
	} {
		if _, err := b.schema.Pool.Exec(ctx, q, upTo); err != nil {
			t.Fatal(err)
		}
	}
	b.setRefsTrigger(t, true)
}

// TestEventsWithoutRefsFoldAlike: ranking reads a subscription event's
// embedded customer, plan and prices from events.refs, and from the
// payload for events appended before refs existed. A log whose first half
// has no refs must give the same tables, every row and version, as one
// where every event has them.
func TestEventsWithoutRefsFoldAlike(t *testing.T) {
	t.Parallel()
	events := history(t, 7, 120)
	half := len(events) / 2
	want := setup(t)
	want.appendInChunks(t, events, 20, 15)
	got := setup(t)
	got.copyWithoutRefs(t, want, half)
	if n := got.countRefs(t); n != 0 {
		t.Fatalf("%d copied events have refs", n)
	}
	got.drain(t, 15)
	got.appendInChunks(t, events[half:], 20, 15)
	if n, all := got.countRefs(t), want.countRefs(t); n == 0 || n >= all {
		t.Fatalf("events with refs: %d of the half-and-half log, %d of the other: the test compares nothing", n, all)
	}
	for _, p := range catalog {
		if p.History {
			sameRows(t, p.Table, got.visibleVersions(t, p.Table), want.visibleVersions(t, p.Table))
			continue
		}
		sameRows(t, p.Table, got.rows(t, p.Table), want.rows(t, p.Table))
	}
	got.checkRebuildMatches(t)
}

// TestEverySubscriptionEventHasRefs: the append builds refs (before it
// locks the head) for every event carrying a subscription, as
// event_refs builds them, and for no other.
func TestEverySubscriptionEventHasRefs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, history(t, 3, 60)...)
	var differ, withRefs, subscriptions int
	err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf(`select
		count(*) filter (where e.refs is distinct from %[1]s.event_refs(e.payload)),
		count(e.refs), count(*) filter (where jsonb_typeof(e.payload -> 'subscription') = 'object')
		from %[1]s.events e`, pgx.Identifier{b.schema.Name}.Sanitize())).Scan(&differ, &withRefs, &subscriptions)
	if err != nil {
		t.Fatal(err)
	}
	if differ != 0 || withRefs != subscriptions || subscriptions == 0 {
		t.Errorf("%d events whose refs differ from event_refs(payload); %d with refs, %d carry a subscription", differ, withRefs, subscriptions)
	}
}
