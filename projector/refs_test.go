package projector

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// setRefsTrigger turns the trigger that fills events.refs on or off, to
// append events as the log held them before migration 015. The schema
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
	got.setRefsTrigger(t, false)
	got.appendInChunks(t, events[:half], 20, 15)
	if n := got.countRefs(t); n != 0 {
		t.Fatalf("%d events have refs with the trigger off", n)
	}
	got.setRefsTrigger(t, true)
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
