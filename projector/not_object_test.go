package projector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// notObjects are what a malformed or hostile payload may carry where an
// event's object belongs, and how a dead letter names each (the id is
// the entity's own, so a bare string names the entity: the log takes it
// as the event's resource id, as for invoice.cost_data_exported).
var notObjects = []struct {
	name string
	bad  func(id string) any
	is   string
}{
	{"string", func(id string) any { return id }, "a string"},
	{"number", func(string) any { return 42 }, "a number"},
	{"array", func(id string) any { return []any{id} }, "an array"},
	{"null", func(string) any { return nil }, "null"},
}

// notObjectKind is one source whose object is the resource: its events'
// type and key, a good object of the entity id, and its table.
type notObjectKind struct {
	table, typ, key, id string
	good                func(t *testing.T, name string) map[string]any
}

var notObjectKinds = []notObjectKind{
	{"customers", "customer.edited", "customer", "cus_1", func(t *testing.T, name string) map[string]any {
		c := customerObj(t, "cus_1")
		c["name"] = name
		return c
	}},
	{"subscriptions", "subscription.edited", "subscription", "sub_1", func(t *testing.T, name string) map[string]any {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		s["default_invoice_memo"] = name
		return s
	}},
	{"invoices", "invoice.issued", "invoice", "inv_1", func(t *testing.T, name string) map[string]any {
		i := invoiceObj(t, "inv_1", "cus_1", "sub_1")
		i["memo"] = name
		return i
	}},
	// A partial source: such an object carries no state either.
	{"invoices", "invoice.invoice_date_elapsed", "invoice", "inv_1", func(t *testing.T, name string) map[string]any {
		i := invoiceObj(t, "inv_1", "cus_1", "sub_1")
		i["memo"] = name
		return i
	}},
}

// TestObjectThatIsNotAnObjectIsSetAside: an event whose object is a bare
// id, a number, an array or null is set aside in the current table and
// its history, with the reason, and changes neither: whatever the
// delivery order and batching, every table is what the good events alone
// make (so the rows keep their last good state, and no blank version
// appears), and a rebuild (one pass and in chunks) and verify agree. A
// retry keeps it aside, and says why.
func TestObjectThatIsNotAnObjectIsSetAside(t *testing.T) {
	t.Parallel()
	for _, k := range notObjectKinds {
		for _, n := range notObjects {
			t.Run(k.typ+"/"+n.name, func(t *testing.T) {
				t.Parallel()
				goodType := k.typ
				if k.typ == "invoice.invoice_date_elapsed" {
					goodType = "invoice.issued"
				}
				good := []eventlog.Event{
					event(t, "evt_good_1", goodType, at(1), map[string]any{k.key: k.good(t, "first")}),
					event(t, "evt_good_3", goodType, at(3), map[string]any{k.key: k.good(t, "second")}),
				}
				bad := []eventlog.Event{
					event(t, "evt_bad_2", k.typ, at(2), map[string]any{k.key: n.bad(k.id)}),
					event(t, "evt_bad_4", k.typ, at(4), map[string]any{k.key: n.bad(k.id)}),
				}
				want := setup(t)
				want.appendInChunks(t, good, len(good), 100)
				reason := fmt.Sprintf("the event's %s is %s, not an object", k.key, n.is)
				for _, d := range []struct {
					name         string
					events       []eventlog.Event
					chunk, batch int
				}{
					{"in order", []eventlog.Event{good[0], bad[0], good[1], bad[1]}, 1, 1},
					{"one batch", []eventlog.Event{good[0], bad[0], good[1], bad[1]}, 4, 100},
					{"bad first", []eventlog.Event{bad[1], bad[0], good[1], good[0]}, 1, 1},
					{"bad late", []eventlog.Event{good[0], good[1], bad[1], bad[0]}, 1, 1},
				} {
					t.Run(d.name, func(t *testing.T) {
						b := setup(t)
						b.appendInChunks(t, d.events, d.chunk, d.batch)
						b.checkSameTables(t, want)
						b.checkNotObjectDeadLetters(t, k.table, reason)
						b.checkHistoryMatchesCurrent(t)
						b.checkRebuildMatches(t)
						b.checkVerifies(t)
						before := b.dump(t)
						if _, err := b.rebuilder(t, RebuildConfig{ChunkSize: 2}).Rebuild(context.Background()); err != nil {
							t.Fatal(err)
						}
						sameDump(t, "rebuilt in chunks", b.dump(t), before)
						b.checkNotObjectDeadLetters(t, k.table, reason)
						res, err := RetryDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, "")
						if err != nil {
							t.Fatal(err)
						}
						if len(res.Resolved) != 0 || len(res.Failed) != 4 {
							t.Errorf("retry resolved %d, failed %d; want 0, 4", len(res.Resolved), len(res.Failed))
						}
						sameDump(t, "after a retry", b.dump(t), before)
						b.checkNotObjectDeadLetters(t, k.table, reason)
					})
				}
			})
		}
	}
}

// checkNotObjectDeadLetters checks that the unresolved dead letters are
// the two bad events' in table and its history, each with reason.
func (b *testBundle) checkNotObjectDeadLetters(t *testing.T, table, reason string) {
	t.Helper()
	dls, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dls {
		if strings.Contains(d.Projection, "@") {
			continue // A shadow table's, from checkRebuildMatches.
		}
		got = append(got, d.Projection+"/"+d.EventID)
		if d.Error != reason {
			t.Errorf("dead letter %s/%s: %q, want %q", d.Projection, d.EventID, d.Error, reason)
		}
	}
	slices.Sort(got)
	want := []string{table + "/evt_bad_2", table + "/evt_bad_4", table + "_history/evt_bad_2", table + "_history/evt_bad_4"}
	if !slices.Equal(got, want) {
		t.Errorf("dead letters %v, want %v", got, want)
	}
}

// TestEmbeddedObjectThatIsNotAnObjectIsPassedOver: a subscription whose
// customer and plan are bare ids (Orb embeds objects) is no news for
// customers, plans or plan_versions: their rows and histories stay as the
// last objects left them, and nothing is set aside. The subscription
// itself, an object, folds. (prices is left out: the price intervals'
// prices are full objects and fold, and with no plan object to tell its
// prices from add-ons they fold as add-ons, without the plan_id the
// plan's copy gave them, as they did before.)
func TestEmbeddedObjectThatIsNotAnObjectIsPassedOver(t *testing.T) {
	t.Parallel()
	for _, n := range notObjects {
		t.Run(n.name, func(t *testing.T) {
			t.Parallel()
			first := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
			bare := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
			bare["customer"], bare["plan"] = n.bad("cus_1"), n.bad("plan_1")
			bare["default_invoice_memo"] = "bare"
			events := []eventlog.Event{
				event(t, "evt_cus", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}),
				event(t, "evt_sub", "subscription.created", at(2), map[string]any{"subscription": first}),
			}
			b := setup(t)
			b.appendInChunks(t, events, 1, 1)
			before := map[string]map[string]map[string]any{}
			for _, table := range []string{"customers", "customers_history", "plans", "plans_history", "plan_versions"} {
				before[table] = b.rows(t, table)
			}
			b.appendInChunks(t, []eventlog.Event{
				event(t, "evt_bare", "subscription.edited", at(3), map[string]any{"subscription": bare}),
			}, 1, 1)
			for table, rows := range before {
				sameRows(t, table, b.rows(t, table), rows)
			}
			if row := b.row(t, "subscriptions", "sub_1"); row["default_invoice_memo"] != "bare" {
				t.Errorf("the subscription did not fold: memo %v", row["default_invoice_memo"])
			}
			dls, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range dls {
				t.Errorf("dead letter %s/%s: %s", d.Projection, d.EventID, d.Error)
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
			b.checkVerifies(t)
		})
	}
}
