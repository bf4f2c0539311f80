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
// and objects whose ids are not strings (oddIDEvents). Entity ids are
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
	return append(events, oddIDEvents(t, 3000)...)
}

// TestCorpusInvariants folds the corpus in created_at order and shuffled,
// in several chunkings (so later chunks fold onto stored rows, late) and
// batch sizes, and checks for every run that each table is the in-order
// one (histories by what as-of sees), that each current table is the open
// versions of its history column for column, that a rebuild equals the
// live tables, that the same events set the same aside, and that a second
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
				t.Errorf("dead letters %v, want %v", dead, wantDead)
			}
			got.checkRebuildMatches(t)
			got.checkVerifies(t)
			before := got.dump(t)
			again := slices.Clone(delivered[:len(delivered)/3])
			r.Shuffle(len(again), func(i, j int) { again[i], again[j] = again[j], again[i] })
			got.redeliver(t, again)
			got.drain(t, run.batch)
			sameDump(t, "after a second delivery", got.dump(t), before)
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
