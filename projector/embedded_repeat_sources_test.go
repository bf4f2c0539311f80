package projector

import (
	"fmt"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// sourcesBetweenEvents embed one customer and one plan unchanged, or the
// plan at two versions in turn, with every other source of
// customers_history and plans_history between two equal embeddings: a
// reconcile.missing marker and a default payment method (partial objects
// a repeat must not erase), a balance transaction (a Derived column read
// after it), a plan.default_version_set (the pin), snapshot.plan and
// customer.edited objects equal to the embedded ones, a summary, and two
// events at one instant.
func sourcesBetweenEvents(t *testing.T) []eventlog.Event {
	var events []eventlog.Event
	add := func(sec int, typ string, fields map[string]any) {
		events = append(events, event(t, fmt.Sprintf("evt_%02d", len(events)), typ, at(sec), fields))
	}
	// name changes the customer's name and the plan's description
	// (another object, at the same version) from the fixtures'.
	name := ""
	sub := func(ver int) map[string]any {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		s["plan"].(map[string]any)["version"] = ver
		if name != "" {
			s["customer"].(map[string]any)["name"] = name
			s["plan"].(map[string]any)["description"] = name
		}
		return s
	}
	embed := func(sec, ver int) { add(sec, "subscription.edited", map[string]any{"subscription": sub(ver)}) }
	// Changed and changed back in consecutive events, in every pair of
	// refs kinds the copies interleave.
	flip := func(sec int, names ...string) {
		for _, n := range names {
			name = n
			embed(sec, 1)
		}
		name = ""
	}
	flip(0, "x", "y", "x", "x", "y", "y", "x", "z", "y", "z")
	embed(1, 1)
	add(2, "reconcile.missing", map[string]any{"resource_type": "customer", "customer": map[string]any{"id": "cus_1"}})
	embed(3, 1)
	embed(4, 1)
	add(5, "payment_method.created", map[string]any{"payment_method": paymentMethodObj("pm_1", "cus_1", true)})
	embed(6, 1)
	add(7, "plan.default_version_set", map[string]any{"plan": map[string]any{"id": "plan_1"},
		"properties": map[string]any{"new_default_version_number": 1}})
	embed(8, 1)
	embed(9, 2)
	embed(10, 1)
	embed(11, 2)
	embed(12, 2)
	events = append(events, balanceEvent(t, fmt.Sprintf("evt_%02d", len(events)), 13, "0.00", "7.00"))
	embed(14, 2)
	embed(15, 2)
	add(16, "snapshot.plan", map[string]any{"plan": sub(2)["plan"]})
	embed(17, 2)
	add(18, "customer.edited", map[string]any{"customer": customerObj(t, "cus_1")})
	embed(19, 2)
	s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	delete(s, "price_intervals")
	s["customer"] = map[string]any{"id": "cus_1", "external_customer_id": "ext_other"}
	s["plan"] = map[string]any{"id": "plan_1", "external_plan_id": "ext_plan_1", "name": "renamed"}
	add(20, "subscription.edited", map[string]any{"subscription": s})
	embed(21, 2)
	embed(21, 2)
	add(22, "plan.default_version_set", map[string]any{"plan": map[string]any{"id": "plan_1"},
		"properties": map[string]any{"new_default_version_number": 2}})
	embed(23, 2)
	embed(24, 1)
	flip(25, "x", "y", "y", "x", "x", "z")
	return events
}

// TestEmbeddedRepeatKeysSourcesBetween: with every other source's events
// between equal embedded customers and plans, the keyed fold writes the
// payload path's histories, whatever the batch and whoever built refs,
// and a rebuild agrees.
func TestEmbeddedRepeatKeysSourcesBetween(t *testing.T) {
	t.Parallel()
	events := sourcesBetweenEvents(t)
	want := payloadOracle(t, events)
	if n := len(want.historyStrings(t, "customers_history", "valid_from::text", "cus_1")); n < 4 {
		t.Fatalf("the oracle has %d customer versions: the steps change too little", n)
	}
	src := setup(t)
	src.append(t, events...)
	if c, p := src.embeddedKeys(t); c < 15 || p < 15 {
		t.Fatalf("%d, %d events have fingerprints: the test compares nothing", c, p)
	}
	for _, kinds := range [][]string{{refsAsBuilt}, {refsAsBuilt, refsBefore025}, {refsBefore025, refsAsBuilt, refsAsBuilt}} {
		for _, batch := range []int{1, 2, 3, 7, 100} {
			t.Run(fmt.Sprintf("refs=%d/batch=%d", len(kinds), batch), func(t *testing.T) {
				t.Parallel()
				got := setup(t)
				got.copyRefs(t, src, kinds...)
				got.drain(t, batch)
				for _, table := range []string{"customers_history", "plans_history"} {
					sameRows(t, table, got.visibleVersions(t, table), want.visibleVersions(t, table))
				}
				got.checkHistoryMatchesCurrent(t)
				got.checkRebuildMatches(t)
			})
		}
	}
}
