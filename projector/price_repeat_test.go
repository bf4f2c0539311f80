package projector

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// The history fold skips an embedded price that repeats the one before it
// by the fingerprints events.refs carry (migration 022), without reading
// the payload. These tests are what it must never skip.

// priceStep is one subscription event of priceRepeatEvents: its plan, the
// names of the plan's copies of price_moving in path order (the fold
// reads the first), and its add-on interval price's name.
type priceStep struct {
	plan  string
	names []string
	addon string
}

// priceRepeatSteps repeats, changes, moves price_moving between plans
// (same object, another plan_id), and embeds it twice with different
// names (the first copy is the one folded, also in the next event).
var priceRepeatSteps = []priceStep{
	{"plan_1", []string{"a"}, "x"},
	{"plan_1", []string{"a"}, "x"},
	{"plan_1", []string{"b"}, "x"},
	{"plan_2", []string{"b"}, "y"},
	{"plan_2", []string{"b"}, "y"},
	{"plan_1", []string{"b"}, "x"},
	{"plan_1", []string{"c", "d"}, "x"},
	{"plan_1", []string{"d"}, "x"},
	{"plan_1", []string{"d", "c"}, "x"},
	{"plan_1", []string{"d"}, "x"},
	{"plan_1", []string{"a"}, "x"},
}

func priceRepeatEvents(t *testing.T) []eventlog.Event {
	var events []eventlog.Event
	for i, st := range priceRepeatSteps {
		s := subscriptionObj(t, "sub_1", "cus_1", st.plan)
		var prices []any
		for _, name := range st.names {
			p := priceObj(t, "price_moving")
			p["name"] = name
			prices = append(prices, p)
		}
		prices = append(prices, priceObj(t, "price_steady"))
		s["plan"].(map[string]any)["prices"] = prices
		addon := priceObj(t, "price_addon")
		addon["name"] = st.addon
		s["price_intervals"] = []any{map[string]any{"id": "pi_addon", "price": addon}}
		events = append(events, event(t, fmt.Sprintf("evt_%02d", i), "subscription.edited", at(i+1), map[string]any{"subscription": s}))
	}
	return events
}

// wantPriceVersions is the plan_id/name each price shows after each step,
// cut down to its changes: for price_moving, the first copy's name.
func wantPriceVersions(t *testing.T) map[string][]string {
	steady := priceObj(t, "price_steady")["name"]
	want := map[string][]string{}
	add := func(id, v string) {
		if vs := want[id]; len(vs) == 0 || vs[len(vs)-1] != v {
			want[id] = append(vs, v)
		}
	}
	for _, st := range priceRepeatSteps {
		add("price_moving", st.plan+"/"+st.names[0])
		add("price_steady", fmt.Sprintf("%s/%v", st.plan, steady))
		add("price_addon", "/"+st.addon)
	}
	return want
}

// priceVersions lists a price's history as plan_id/name, oldest first.
func (b *testBundle) priceVersions(t *testing.T, id string) []string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf(
		"select coalesce(plan_id, '') || '/' || coalesce(name, '') from %s where id = $1 order by valid_from, last_event_seq",
		pgx.Identifier{b.schema.Name, "prices_history"}.Sanitize()), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// refsKinds counts the log's subscription events by what their refs hold:
// fingerprints, refs without them, no refs.
func (b *testBundle) refsKinds(t *testing.T) (withFP, withoutFP, none int) {
	t.Helper()
	err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf(`select
		count(*) filter (where jsonb_path_exists(refs, '$.subscription.plan.prices[*].fp')),
		count(*) filter (where refs is not null and not jsonb_path_exists(refs, '$.subscription.plan.prices[*].fp')),
		count(*) filter (where refs is null)
		from %s where type like 'subscription.%%'`, pgx.Identifier{b.schema.Name, "events"}.Sanitize())).Scan(&withFP, &withoutFP, &none)
	if err != nil {
		t.Fatal(err)
	}
	return withFP, withoutFP, none
}

// checkPriceVersions compares the prices' versions with
// wantPriceVersions.
func (b *testBundle) checkPriceVersions(t *testing.T) {
	t.Helper()
	for id, want := range wantPriceVersions(t) {
		if got := b.priceVersions(t, id); !slices.Equal(got, want) {
			t.Errorf("%s versions %v, want %v", id, got, want)
		}
	}
}

// TestEmbeddedPriceRepeatKeys: the prices skipped as repeats by their
// fingerprints in refs are exactly the unchanged ones, in the same plan:
// a price changed in a later event, moved to another plan unchanged, or
// embedded twice with different contents (the first copy is folded) makes
// a version, in one batch and one event per batch.
func TestEmbeddedPriceRepeatKeys(t *testing.T) {
	t.Parallel()
	events := priceRepeatEvents(t)
	for _, batch := range []int{1, 3, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.append(t, events...)
			if withFP, _, _ := b.refsKinds(t); withFP != len(events) {
				t.Fatalf("%d of %d events have fingerprints in refs: the test compares nothing", withFP, len(events))
			}
			b.drain(t, batch)
			b.checkPriceVersions(t)
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// copyMixedRefs copies from's log into b's with refs of four kinds, by
// position: as the service built them (copied), built by the trigger, as
// before migration 022 (no fingerprints), and none (before 017).
func (b *testBundle) copyMixedRefs(t *testing.T, from *testBundle) {
	t.Helper()
	ctx := context.Background()
	var cols string
	err := b.schema.Pool.QueryRow(ctx, `select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
		where attrelid = to_regclass($1) and attnum > 0 and not attisdropped and attname <> 'refs'`,
		pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(refs, where string) {
		t.Helper()
		q := fmt.Sprintf("insert into %s (%s, refs) select %s, %s from %s where %s",
			pgx.Identifier{b.schema.Name, "events"}.Sanitize(), cols, cols, refs,
			pgx.Identifier{from.schema.Name, "events"}.Sanitize(), where)
		if _, err := b.schema.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// Refs without "fp" are jsonb text without it: keys print in order,
	// "fp" before "id".
	insert("refs", "seq % 4 = 0")
	insert("null", "seq % 4 = 1") // The trigger builds them.
	insert(`regexp_replace(refs::text, '"fp": "[0-9a-f]{32}"(, )?', '', 'g')::jsonb`, "seq % 4 = 2")
	b.setRefsTrigger(t, false)
	insert("null", "seq % 4 = 3")
	b.setRefsTrigger(t, true)
	_, err = b.schema.Pool.Exec(ctx, fmt.Sprintf("update %s set seq = (select max(seq) from %s)",
		pgx.Identifier{b.schema.Name, "log_head"}.Sanitize(), pgx.Identifier{b.schema.Name, "events"}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedPriceRepeatKeysMixedRefs: a log whose events' refs were
// built by the service, by the trigger, before fingerprints (none in
// refs) and before refs (no refs) folds to the same history as one where
// all have fingerprints: an event without a fingerprint is read from its
// payload, and its fingerprint never matches a key from refs.
func TestEmbeddedPriceRepeatKeysMixedRefs(t *testing.T) {
	t.Parallel()
	events := priceRepeatEvents(t)
	want := setup(t)
	want.append(t, events...)
	want.drain(t, 100)
	want.checkPriceVersions(t)
	for _, batch := range []int{1, 2, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			got := setup(t)
			got.copyMixedRefs(t, want)
			withFP, withoutFP, none := got.refsKinds(t)
			if withFP == 0 || withoutFP == 0 || none == 0 || withFP+withoutFP+none != len(events) {
				t.Fatalf("refs with fingerprints %d, without %d, none %d: want each kind", withFP, withoutFP, none)
			}
			got.drain(t, batch)
			got.checkPriceVersions(t)
			sameRows(t, "prices_history", got.visibleVersions(t, "prices_history"), want.visibleVersions(t, "prices_history"))
			got.checkHistoryMatchesCurrent(t)
			got.checkRebuildMatches(t)
		})
	}
}

// TestEmbeddedPriceRepeatKeyArrayID: a price whose id is an array holding
// another price's id, before that price in the path. The fold reads the
// item whose id is the price's (x.o -> 'id' = to_jsonb(entity)), so the
// fingerprint keying it must come from that same item in refs: a lax
// path would compare the array's elements (lax == unwraps them), take
// the decoy's fingerprint, and skip every change of the real price. The
// decoys themselves, their ids not strings, are no entities (see
// TestNonStringIDsAreNoEntities): the tables and the histories agree.
func TestEmbeddedPriceRepeatKeyArrayID(t *testing.T) {
	t.Parallel()
	names := []string{"a", "a", "b", "b", "c", "a"}
	var events []eventlog.Event
	for i, name := range names {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		decoy := priceObj(t, "price_decoy")
		decoy["id"] = []any{"price_moving"}
		moving := priceObj(t, "price_moving")
		moving["name"] = name
		s["plan"].(map[string]any)["prices"] = []any{decoy, moving}
		addonDecoy := priceObj(t, "price_decoy_addon")
		addonDecoy["id"] = []any{"price_addon"}
		addon := priceObj(t, "price_addon")
		addon["name"] = name
		s["price_intervals"] = []any{
			map[string]any{"id": "pi_decoy", "price": addonDecoy},
			map[string]any{"id": "pi_addon", "price": addon},
		}
		events = append(events, event(t, fmt.Sprintf("evt_%02d", i), "subscription.edited", at(i+1), map[string]any{"subscription": s}))
	}
	want := map[string][]string{
		"price_moving": {"plan_1/a", "plan_1/b", "plan_1/c", "plan_1/a"},
		"price_addon":  {"/a", "/b", "/c", "/a"},
	}
	for _, batch := range []int{1, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.append(t, events...)
			if withFP, _, _ := b.refsKinds(t); withFP != len(events) {
				t.Fatalf("%d of %d events have fingerprints in refs: the test compares nothing", withFP, len(events))
			}
			b.drain(t, batch)
			for id, w := range want {
				if got := b.priceVersions(t, id); !slices.Equal(got, w) {
					t.Errorf("%s versions %v, want %v", id, got, w)
				}
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// TestEmbeddedPriceRepeatKeysLate: events arriving out of order recompute
// the prices they embed (the late path re-reads each one's whole history,
// keyed from refs like any candidate): whichever events come late, the
// versions are those of the ordered log, and a rebuild agrees.
func TestEmbeddedPriceRepeatKeysLate(t *testing.T) {
	t.Parallel()
	events := priceRepeatEvents(t)
	for _, late := range [][]int{{2}, {6, 8}, {0}, {1, 3, 4, 9}} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.deliverLate(t, events, late)
			b.checkPriceVersions(t)
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// deliverLate appends events less those at the indexes late and drains
// them in rounds of 3, then appends and drains each late one by itself:
// each arrives after events newer than it were folded.
func (b *testBundle) deliverLate(t *testing.T, events []eventlog.Event, late []int) {
	t.Helper()
	var first, then []eventlog.Event
	for i, ev := range events {
		if slices.Contains(late, i) {
			then = append(then, ev)
		} else {
			first = append(first, ev)
		}
	}
	b.append(t, first...)
	b.drain(t, 3)
	for _, ev := range then {
		b.append(t, ev)
		b.drain(t, 100)
	}
}
