package projector

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// The history fold skips an embedded customer or plan that repeats the
// one before it by the fingerprints events.refs carry (migration 025),
// without reading the payload. These tests are what it must never skip.

// embeddedStep is one event of embeddedRepeatEvents: a full subscription
// event (sub) embedding customer name cust and plan version ver named
// plan; a summary one (its customer and plan cut down, the plan renamed
// plan); a customer.edited naming the customer cust; or a
// plan.default_version_set naming version ver.
type embeddedStep struct {
	kind string
	cust string
	ver  int
	plan string
}

// embeddedRepeatSteps repeat, change and change back the customer and the
// plan, with the other sources' objects between (a customer.edited equal
// to the embedded customer, a summary's partial objects), and move the
// plan between versions, the default among them.
var embeddedRepeatSteps = []embeddedStep{
	{"sub", "a", 1, "p"},
	{"sub", "a", 1, "p"},
	{"summary", "", 0, "z"},
	{"sub", "a", 1, "p"},
	{"sub", "b", 1, "p"},
	{"cust", "b", 0, ""},
	{"sub", "b", 1, "q"},
	{"cust", "c", 0, ""},
	{"sub", "c", 2, "r"},
	{"sub", "c", 1, "q"},
	{"sub", "c", 2, "r"},
	{"sub", "a", 2, "r"},
	{"sub", "a", 2, "s"},
	{"sub", "a", 2, "r"},
	{"default", "", 1, ""},
	{"sub", "a", 1, "q"},
	{"sub", "d", 2, "r"},
	{"sub", "a", 1, "t"},
}

// wantCustomerVersions and wantPlanVersions are the histories of cus_1
// (name) and plan_1 (name/version/default_version) the steps make.
var (
	wantCustomerVersions = []string{"a", "b", "c", "a", "d", "a"}
	wantPlanVersions     = []string{"p/1/", "z/1/", "p/1/", "q/1/", "r/2/", "s/2/", "r/2/", "q/1/1", "t/1/1"}
)

func embeddedRepeatEvents(t *testing.T) []eventlog.Event {
	var events []eventlog.Event
	for i, st := range embeddedRepeatSteps {
		id, when := fmt.Sprintf("evt_%02d", i), at(i+1)
		var ev eventlog.Event
		switch st.kind {
		case "sub":
			s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
			s["customer"].(map[string]any)["name"] = st.cust
			plan := s["plan"].(map[string]any)
			plan["version"], plan["name"] = st.ver, st.plan
			// A member named like refs' fingerprint, the same in every
			// event: read from a payload (an event without refs) as a
			// key, it would make every change a repeat.
			s["customer"].(map[string]any)["fp"] = "00000000000000000000000000000000"
			plan["fp"] = "00000000000000000000000000000000"
			ev = event(t, id, "subscription.edited", when, map[string]any{"subscription": s})
		case "summary":
			s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
			delete(s, "price_intervals")
			s["customer"] = map[string]any{"id": "cus_1", "external_customer_id": "ext_cus_1"}
			s["plan"] = map[string]any{"id": "plan_1", "external_plan_id": "ext_plan_1", "name": st.plan}
			ev = event(t, id, "subscription.edited", when, map[string]any{"subscription": s})
		case "cust":
			c := customerObj(t, "cus_1")
			c["name"] = st.cust
			ev = event(t, id, "customer.edited", when, map[string]any{"customer": c})
		case "default":
			ev = event(t, id, "plan.default_version_set", when, map[string]any{
				"plan": map[string]any{"id": "plan_1"}, "properties": map[string]any{"new_default_version_number": st.ver}})
		}
		events = append(events, ev)
	}
	return events
}

// historyStrings lists one entity's versions as expr gives them, oldest
// first.
func (b *testBundle) historyStrings(t *testing.T, table, expr, id string) []string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf(
		"select %s from %s where id = $1 order by valid_from, last_event_seq", expr,
		pgx.Identifier{b.schema.Name, table}.Sanitize()), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkEmbeddedVersions compares cus_1's and plan_1's histories with the
// steps'.
func (b *testBundle) checkEmbeddedVersions(t *testing.T) {
	t.Helper()
	if got := b.historyStrings(t, "customers_history", "coalesce(name, '')", "cus_1"); !slices.Equal(got, wantCustomerVersions) {
		t.Errorf("customer versions %v, want %v", got, wantCustomerVersions)
	}
	got := b.historyStrings(t, "plans_history",
		"concat_ws('/', coalesce(name, ''), coalesce(version::text, ''), coalesce(default_version::text, ''))", "plan_1")
	if !slices.Equal(got, wantPlanVersions) {
		t.Errorf("plan versions %v, want %v", got, wantPlanVersions)
	}
}

// embeddedKeys counts the log's full subscription events whose refs give
// the customer and the plan a fingerprint.
func (b *testBundle) embeddedKeys(t *testing.T) (customers, plans int) {
	t.Helper()
	err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf(`select
		count(*) filter (where refs #> '{subscription,customer,fp}' is not null),
		count(*) filter (where refs #> '{subscription,plan,fp}' is not null)
		from %s where type like 'subscription.%%'`, pgx.Identifier{b.schema.Name, "events"}.Sanitize())).Scan(&customers, &plans)
	if err != nil {
		t.Fatal(err)
	}
	return customers, plans
}

// subscriptionSteps is the number of steps that embed a customer and a
// plan object (a summary's, cut down, has a fingerprint too).
func subscriptionSteps() int {
	n := 0
	for _, st := range embeddedRepeatSteps {
		if st.kind == "sub" || st.kind == "summary" {
			n++
		}
	}
	return n
}

// Refs kinds for copyRefs: as the service or trigger built them, built by
// the trigger, as before migration 025 (prices' fingerprints only), as
// before 022 (no fingerprints), and none (before 017).
const (
	refsAsBuilt   = "refs"
	refsByTrigger = "trigger"
	refsBefore025 = `refs #- '{subscription,customer,fp}' #- '{subscription,plan,fp}'`
	refsBefore022 = `regexp_replace(refs::text, '"fp": "[0-9a-f]{32}"(, )?', '', 'g')::jsonb`
	refsNone      = "none"
)

// copyRefs copies from's log into b's with the refs of kinds[seq mod
// len(kinds)] (the log refuses updates, so refs are changed on the way).
func (b *testBundle) copyRefs(t *testing.T, from *testBundle, kinds ...string) {
	t.Helper()
	ctx := context.Background()
	var cols string
	err := b.schema.Pool.QueryRow(ctx, `select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
		where attrelid = to_regclass($1) and attnum > 0 and not attisdropped and attname <> 'refs'`,
		pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&cols)
	if err != nil {
		t.Fatal(err)
	}
	for i, kind := range kinds {
		refs := kind
		if kind == refsByTrigger || kind == refsNone {
			refs = "null"
		}
		if kind == refsNone {
			b.setRefsTrigger(t, false)
		}
		q := fmt.Sprintf("insert into %s (%s, refs) select %s, %s from %s where seq %% %d = %d order by seq",
			pgx.Identifier{b.schema.Name, "events"}.Sanitize(), cols, cols, refs,
			pgx.Identifier{from.schema.Name, "events"}.Sanitize(), len(kinds), i)
		if _, err := b.schema.Pool.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
		if kind == refsNone {
			b.setRefsTrigger(t, true)
		}
	}
	_, err = b.schema.Pool.Exec(ctx, fmt.Sprintf("update %s set seq = (select max(seq) from %s)",
		pgx.Identifier{b.schema.Name, "log_head"}.Sanitize(), pgx.Identifier{b.schema.Name, "events"}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
}

// payloadOracle folds events from a log whose refs carry no customer or
// plan fingerprints: the history as the payload path makes it, every
// object compared whole.
func payloadOracle(t *testing.T, events []eventlog.Event) *testBundle {
	t.Helper()
	src := setup(t)
	src.append(t, events...)
	want := setup(t)
	want.copyRefs(t, src, refsBefore025)
	if c, p := want.embeddedKeys(t); c != 0 || p != 0 {
		t.Fatalf("the oracle's log has %d, %d fingerprints", c, p)
	}
	want.drain(t, 100)
	return want
}

// TestEmbeddedCustomerPlanRepeatKeys: the customers and plans skipped as
// repeats by their fingerprints in refs are exactly the unchanged ones: a
// customer or plan changed in a later event, changed back, another
// version of the plan, or another source's object between two equal ones
// makes the same versions as comparing objects does, whatever the batch.
func TestEmbeddedCustomerPlanRepeatKeys(t *testing.T) {
	t.Parallel()
	events := embeddedRepeatEvents(t)
	for _, batch := range []int{1, 2, 3, 5, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.append(t, events...)
			if c, p := b.embeddedKeys(t); c != subscriptionSteps() || p != subscriptionSteps() {
				t.Fatalf("%d, %d of %d events have fingerprints in refs: the test compares nothing", c, p, subscriptionSteps())
			}
			b.drain(t, batch)
			b.checkEmbeddedVersions(t)
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// TestEmbeddedCustomerPlanRepeatKeysMatchPayload: keyed or not, the
// histories are the same, row for row: the fold over refs with
// fingerprints writes what the payload path writes.
func TestEmbeddedCustomerPlanRepeatKeysMatchPayload(t *testing.T) {
	t.Parallel()
	events := embeddedRepeatEvents(t)
	want := payloadOracle(t, events)
	want.checkEmbeddedVersions(t)
	for _, batch := range []int{1, 4, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			got := setup(t)
			got.append(t, events...)
			got.drain(t, batch)
			for _, table := range []string{"customers_history", "plans_history"} {
				sameRows(t, table, got.visibleVersions(t, table), want.visibleVersions(t, table))
			}
		})
	}
}

// TestEmbeddedCustomerPlanRepeatKeysMixedRefs: a log whose refs were built
// by the service, by the trigger, before migration 025, before 022 and
// not at all folds to the same histories: an event without a customer or
// plan fingerprint is read from its payload, and a key never matches an
// object read from the payload. A log without refs (before 017) reads
// every object from its payload, whatever members named "fp" it holds.
func TestEmbeddedCustomerPlanRepeatKeysMixedRefs(t *testing.T) {
	t.Parallel()
	events := embeddedRepeatEvents(t)
	want := payloadOracle(t, events)
	src := setup(t)
	src.append(t, events...)
	for _, c := range []struct {
		name  string
		kinds []string
	}{
		{"mixed", []string{refsAsBuilt, refsByTrigger, refsBefore025, refsBefore022, refsNone}},
		{"none", []string{refsNone}},
		{"before022", []string{refsBefore022}},
	} {
		for _, batch := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/batch=%d", c.name, batch), func(t *testing.T) {
				t.Parallel()
				got := setup(t)
				got.copyRefs(t, src, c.kinds...)
				cust, plan := got.embeddedKeys(t)
				if keyed := len(c.kinds) > 1; (cust > 0) != keyed || (plan > 0) != keyed || cust == subscriptionSteps() {
					t.Fatalf("%d, %d of %d events have fingerprints", cust, plan, subscriptionSteps())
				}
				got.drain(t, batch)
				got.checkEmbeddedVersions(t)
				for _, table := range []string{"customers_history", "plans_history"} {
					sameRows(t, table, got.visibleVersions(t, table), want.visibleVersions(t, table))
				}
				got.checkHistoryMatchesCurrent(t)
				got.checkRebuildMatches(t)
			})
		}
	}
}

// TestEmbeddedCustomerPlanRepeatKeysLate: events arriving out of order
// recompute the customer and plan they embed from their whole history,
// keyed from refs like any candidate: whichever events come late, the
// versions are those of the ordered log, and a rebuild agrees.
func TestEmbeddedCustomerPlanRepeatKeysLate(t *testing.T) {
	t.Parallel()
	events := embeddedRepeatEvents(t)
	for _, late := range [][]int{{1}, {3, 13}, {0}, {2, 9, 14}, {10, 11, 12}} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.deliverLate(t, events, late)
			b.checkEmbeddedVersions(t)
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}
