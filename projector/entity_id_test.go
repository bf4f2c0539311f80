package projector

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// oddIDEvents, created from start seconds on, carry objects whose id is
// not a non-empty JSON string, next to ordinary ones: a subscription
// whose customer's id is a number and whose plan's is an object, among
// whose plan prices are one with an array id holding the add-on price's
// id (before it, in path order), one with a number id and one with an
// empty id; a balance transaction and a credit block with number ids; a
// payment method whose customer_id is a number. Orb's ids are strings
// (FACTS.md), so none of these objects is an entity: only the
// string-keyed ones make rows.
func oddIDEvents(t *testing.T, start int) []eventlog.Event {
	var events []eventlog.Event
	for i, name := range []string{"a", "b", "b", "c"} {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		s["customer"].(map[string]any)["id"] = 5
		plan := s["plan"].(map[string]any)
		plan["id"] = map[string]any{"id": "plan_1"}
		decoy, number, empty, real := priceObj(t, "price_decoy"), priceObj(t, "price_number"), priceObj(t, ""), priceObj(t, "price_plan")
		decoy["id"], number["id"] = []any{"price_addon"}, 7
		for _, p := range []map[string]any{decoy, number, empty, real} {
			p["name"] = name + "/" + fmt.Sprint(p["id"])
		}
		plan["prices"] = []any{decoy, number, empty, real}
		addon := priceObj(t, "price_addon")
		addon["name"] = name
		s["price_intervals"] = []any{map[string]any{"id": "pi_addon", "price": addon}}
		events = append(events, event(t, fmt.Sprintf("evt_sub_%d", i), "subscription.edited", at(start+10*i+1), map[string]any{"subscription": s}))
	}
	events = append(events,
		event(t, "evt_cbt", balanceTransactionType, at(start+2), map[string]any{"customer": customerObj(t, "cus_1"),
			"properties": map[string]any{"balance_transaction": map[string]any{"id": 42, "amount": "1.00",
				"starting_balance": "0.00", "ending_balance": "1.00"}}}),
		event(t, "evt_block", "customer.credit_ledger_incremented", at(start+3), map[string]any{"customer": customerObj(t, "cus_1"),
			"properties": map[string]any{"block": map[string]any{"id": 3, "balance": "1.00"}}}),
		event(t, "evt_pm", "payment_method.created", at(start+4), map[string]any{"payment_method": map[string]any{
			"id": "pm_1", "customer_id": 9, "default": true, "payment_method_type": "card"}}),
	)
	return events
}

// TestNonStringIDsAreNoEntities: an object whose id is not a non-empty
// string is no entity of any table, current or history, in one batch, one
// event per batch and delivered backwards (every event late, its entities
// recomputed from the log): an embedded one is no news for the table, and
// an event whose own object has no such id is set aside in dead_letters.
// The add-on price keeps its versions although a plan price's array id
// holds its id: only a string id leaves an item to the other source.
func TestNonStringIDsAreNoEntities(t *testing.T) {
	t.Parallel()
	events := oddIDEvents(t, 0)
	want := map[string][]string{
		"customers":                     {"cus_1"},
		"subscriptions":                 {"sub_1"},
		"prices":                        {"price_addon", "price_plan"},
		"payment_methods":               {"pm_1"},
		"plans":                         nil,
		"plan_versions":                 nil,
		"credit_blocks":                 nil,
		"customer_balance_transactions": nil,
	}
	wantDead := []string{"customer_balance_transactions/evt_cbt", "customers/evt_pm"}
	for _, run := range []struct {
		name     string
		batch    int
		backward bool
	}{{"batch=1", 1, false}, {"batch=100", 100, false}, {"backward", 1, true}} {
		t.Run(run.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			if run.backward {
				for _, e := range slices.Backward(events) {
					b.append(t, e)
					b.drain(t, run.batch)
				}
			} else {
				b.append(t, events...)
				b.drain(t, run.batch)
			}
			for table, ids := range want {
				for _, tbl := range []string{table, table + "_history"} {
					if tbl == "plan_versions_history" || tbl == "customer_balance_transactions_history" {
						continue
					}
					got := slices.Sorted(maps.Keys(b.keys(t, tbl)))
					if !slices.Equal(got, ids) {
						t.Errorf("%s holds %q, want %q", tbl, got, ids)
					}
				}
			}
			for id, names := range map[string][]string{
				"price_addon": {"a", "b", "c"},
				"price_plan":  {"a/price_plan", "b/price_plan", "c/price_plan"},
			} {
				var got []string
				for _, v := range b.versions(t, "prices", id) {
					got = append(got, v.Name)
				}
				if !slices.Equal(got, names) {
					t.Errorf("%s versions %q, want %q", id, got, names)
				}
			}
			dead, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
			if err != nil {
				t.Fatal(err)
			}
			var gotDead []string
			for _, d := range withoutHistory(dead) {
				gotDead = append(gotDead, d.Projection+"/"+d.EventID)
			}
			slices.Sort(gotDead)
			if !slices.Equal(gotDead, wantDead) {
				t.Errorf("dead letters %v, want %v", gotDead, wantDead)
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// keys is the set of keys in table (a history's: its entity ids).
func (b *testBundle) keys(t *testing.T, table string) map[string]bool {
	t.Helper()
	p, ok := projectionByName(table)
	if !ok {
		t.Fatalf("no projection %s", table)
	}
	out := map[string]bool{}
	for _, r := range b.rows(t, table) {
		out[r[p.Key].(string)] = true
	}
	return out
}
