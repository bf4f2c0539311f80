package projector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// The corpus is every payload shape the tests know, in one log: the
// random mix of shapes over a few entities (history), one recorded-shape
// event of every type the catalog reads (typeCases: summary, partial,
// minified, lightweight and snapshot shapes, alerts, accounting syncs),
// the same again later under new event ids (equal objects: no versions),
// objects whose ids are not strings (oddIDEvents) and objects that are
// not objects (oddObjectEvents). Entity ids are
// shared between the parts (cus_0, sub_1, inv_2, …), so one object goes
// through many shapes. Each event has its own created_at but for the
// balance bursts history makes on purpose.
func corpus(t *testing.T) []eventlog.Event {
	events := history(t, 7, 200)
	cases := typeCases(t)
	for pass, start := range []int{1000, 2000} {
		for i, c := range cases {
			events = append(events, event(t, fmt.Sprintf("evt_case%d_%03d", pass, i), c.typ, at(start+i), c.fields))
		}
	}
	item := itemObj("item_1") // typeCases' item, changed: a second version.
	item["name"] = "API calls, renamed"
	events = append(events, event(t, "evt_item_renamed", "snapshot.item", at(2500), map[string]any{"item": item}))
	events = append(events, oddIDEvents(t, 3000)...)
	return append(events, oddObjectEvents(t, 4000)...)
}

// oddObjectEvents, created from start seconds on, carry objects that are
// not objects, or hold such where objects belong: a bare id or null for
// the resource, a subscription whose customer is a bare id and whose plan
// an array, plan prices and price intervals that are strings, null and
// numbers, a plan whose prices are a string, version numbers as strings,
// a bare balance transaction and a credit block inside an array. Orb
// sends a bare id only for invoice.cost_data_exported, which no table
// reads; whatever the tables make of these, current and history, live
// and rebuilt, must agree.
func oddObjectEvents(t *testing.T, start int) []eventlog.Event {
	var events []eventlog.Event
	add := func(typ string, fields map[string]any) {
		events = append(events, event(t, fmt.Sprintf("evt_odd_%02d", len(events)), typ, at(start+len(events)), fields))
	}
	add("customer.edited", map[string]any{"customer": "cus_1"})
	add("invoice.payment_succeeded", map[string]any{"invoice": "inv_1"})
	add("invoice.edited", map[string]any{"invoice": nil})
	s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	s["customer"], s["plan"] = "cus_1", []any{"plan_1"}
	add("subscription.edited", map[string]any{"subscription": s})
	s = subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	s["price_intervals"] = []any{"pi_1", nil, map[string]any{"price": "price_0"}, map[string]any{"price": nil}}
	s["plan"].(map[string]any)["prices"] = []any{"price_0", nil, 5}
	add("subscription.edited", map[string]any{"subscription": s})
	// The plan keeps its alias. A plan.* event that names its plan by
	// external_plan_id alone (FACTS.md: {id?, external_plan_id?, name?})
	// is resolved through the plans table as it is when the event is
	// folded (planByAlias), and set aside until the alias is known: were
	// the alias to go (a later object without it), the history's plan.*
	// events by "ext_plan_1" would resolve or stay set aside by delivery
	// order and batching. A design choice of the first projections, left
	// as it is here; resolving by the log as of the event would need an
	// index of aliases on events.
	add("snapshot.plan", map[string]any{"plan": map[string]any{"id": "plan_1", "external_plan_id": "ext_plan_1",
		"prices": "none", "version": "12"}})
	add("plan.version_created", map[string]any{"plan": map[string]any{"id": "plan_1"},
		"properties": map[string]any{"plan_version_number": "13"}})
	add(balanceTransactionType, map[string]any{"customer": customerObj(t, "cus_1"),
		"properties": map[string]any{"balance_transaction": "cbt_1"}})
	add("customer.credit_ledger_incremented", map[string]any{"customer": customerObj(t, "cus_1"),
		"properties": map[string]any{"block": []any{map[string]any{"id": "blk_1"}}}})
	return events
}

// TestCorpusInvariants folds the corpus in created_at order and shuffled,
// in several chunkings (so later chunks fold onto stored rows, late) and
// batch sizes, and checks for every run that each table is the in-order
// one (histories by what as-of sees), that each current table is the open
// versions of its history column for column, that a rebuild equals the
// live tables (folded in one pass, and rebuilt in chunks as reproject
// does), that the same events set the same aside, and that a second
// delivery of events already logged changes nothing.
func TestCorpusInvariants(t *testing.T) {
	t.Parallel()
	events := corpus(t)
	inOrder := slices.Clone(events)
	slices.SortStableFunc(inOrder, func(a, b eventlog.Event) int { return a.CreatedAt.Compare(b.CreatedAt) })
	want := setup(t)
	want.appendInChunks(t, inOrder, len(inOrder), 1000)
	for _, p := range catalog {
		if want.count(t, p.Table) == 0 {
			t.Errorf("the corpus leaves %s empty: it tests nothing there", p.Table)
		}
		if p.History && want.count(t, p.Table) == want.count(t, p.BaseTable()) {
			t.Errorf("the corpus gives no entity of %s a second version: it tests no interval there", p.BaseTable())
		}
	}
	wantDead := want.deadLetterKeys(t)
	for _, run := range []struct {
		seed         uint64 // 0: in created_at order
		chunk, batch int
	}{{0, 1000, 1}, {0, 50, 7}, {1, 1000, 2}, {2, 9, 3}, {3, 60, 1000}, {4, 1, 5}} {
		t.Run(fmt.Sprintf("seed=%d/chunk=%d/batch=%d", run.seed, run.chunk, run.batch), func(t *testing.T) {
			t.Parallel()
			delivered := slices.Clone(inOrder)
			r := rand.New(rand.NewPCG(run.seed, 11))
			if run.seed != 0 {
				r.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })
			}
			got := setup(t)
			got.appendInChunks(t, delivered, run.chunk, run.batch)
			got.checkSameTables(t, want)
			got.checkHistoryMatchesCurrent(t)
			// Before the rebuild, whose shadow tables set aside their own.
			if dead := got.deadLetterKeys(t); !slices.Equal(dead, wantDead) {
				t.Errorf("dead letters: %v more, %v fewer than in order", without(dead, wantDead), without(wantDead, dead))
			}
			got.checkRebuildMatches(t)
			got.checkVerifies(t)
			before := got.dump(t)
			again := slices.Clone(delivered[:len(delivered)/3])
			r.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
			got.redeliver(t, again)
			got.drain(t, run.batch)
			sameDump(t, "after a second delivery", got.dump(t), before)
			// A rebuild as reproject runs it, in chunks (each folded onto
			// the rows of the chunks before), swapped in.
			if _, err := got.rebuilder(t, RebuildConfig{ChunkSize: 37}).Rebuild(context.Background()); err != nil {
				t.Fatal(err)
			}
			sameDump(t, "rebuilt in chunks", got.dump(t), before)
		})
	}
}

// deadLetterKeys lists the unresolved dead letters as projection/event id,
// sorted.
func (b *testBundle) deadLetterKeys(t *testing.T) []string {
	t.Helper()
	dead, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range dead {
		keys = append(keys, d.Projection+"/"+d.EventID)
	}
	slices.Sort(keys)
	return keys
}

// without lists the strings of a not in b.
func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// redeliver appends events already in the log again, as Orb's retries
// deliver them: the log must take none.
func (b *testBundle) redeliver(t *testing.T, events []eventlog.Event) {
	t.Helper()
	res, err := b.appender.AppendBatch(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Duplicate {
			t.Errorf("event %s was logged twice", events[i].ID)
		}
	}
}

// TestCorpusTiesInvariants: the corpus with ties, events of one entity
// created in the same instant: a second random mix of shapes over the same
// entities and instants as the first (under other event ids), and every
// typeCases event again at its own instant. Ties fold in log order (the
// order key is created_at, then log position), so which event of a tie
// wins follows delivery, by design: the tables are not compared across
// deliveries. What holds for every delivery is checked: each current
// table is the open versions of its history, a rebuild and verify agree
// with the live tables, and a second delivery changes nothing.
func TestCorpusTiesInvariants(t *testing.T) {
	t.Parallel()
	events := corpus(t)
	for i, e := range history(t, 8, 200) {
		events = append(events, renamed(t, e, fmt.Sprintf("evt_tie_%03d", i)))
	}
	for i, c := range typeCases(t) {
		events = append(events, event(t, fmt.Sprintf("evt_case_tie_%03d", i), c.typ, at(1000+i), c.fields))
	}
	for _, run := range []struct {
		seed         uint64
		chunk, batch int
	}{{5, 1000, 1}, {6, 40, 9}, {7, 1, 1000}} {
		t.Run(fmt.Sprintf("seed=%d/chunk=%d/batch=%d", run.seed, run.chunk, run.batch), func(t *testing.T) {
			t.Parallel()
			delivered := slices.Clone(events)
			r := rand.New(rand.NewPCG(run.seed, 11))
			r.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })
			b := setup(t)
			b.appendInChunks(t, delivered, run.chunk, run.batch)
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
			b.checkVerifies(t)
			before := b.dump(t)
			b.redeliver(t, delivered[:len(delivered)/4])
			b.drain(t, run.batch)
			sameDump(t, "after a second delivery", b.dump(t), before)
		})
	}
}

// renamed is e under another event id: the same type, instant and payload.
func renamed(t *testing.T, e eventlog.Event, id string) eventlog.Event {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(e.Body))
	d.UseNumber() // Numbers keep their spelling.
	var fields map[string]any
	if err := d.Decode(&fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "type", "created_at"} {
		delete(fields, k)
	}
	return event(t, id, e.Type, e.CreatedAt, fields)
}
