package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Prices embedded in plans and in subscriptions' price intervals (issue 9).

// fixturePrice is a price of the subscription fixture's plan (and of its
// price intervals).
const fixturePrice = "GUsNqEYQX6tmJw"

// subscriptionWithPrices is a full subscription on planID whose plan's and
// intervals' copies of fixturePrice are named name, with an add-on price
// interval (price_addon) named too.
func subscriptionWithPrices(t *testing.T, id, planID, name string, when int) eventlog.Event {
	s := subscriptionObj(t, "sub_1", "cus_1", planID)
	for _, p := range s["plan"].(map[string]any)["prices"].([]any) {
		if p := p.(map[string]any); p["id"] == fixturePrice {
			p["name"] = name
		}
	}
	var addon map[string]any
	for _, pi := range s["price_intervals"].([]any) {
		pi := pi.(map[string]any)
		if p := pi["price"].(map[string]any); p["id"] == fixturePrice {
			p["name"] = name
			addon = deepCopy(t, pi)
		}
	}
	addon["id"] = "pi_addon"
	addon["price"].(map[string]any)["id"] = "price_addon"
	addon["price"].(map[string]any)["name"] = "add-on " + name
	s["price_intervals"] = append(s["price_intervals"].([]any), addon)
	return event(t, id, "subscription.edited", at(when), map[string]any{"subscription": s})
}

// planWithPrice is a snapshot of planID whose only price is priceID.
func planWithPrice(t *testing.T, id, planID, priceID string, when int) eventlog.Event {
	p := planObj(t, planID)
	price := priceObj(t, priceID)
	p["prices"] = []any{price}
	return event(t, id, "snapshot.plan", at(when), map[string]any{"plan": p})
}

func deepCopy(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// shuffledEvents is events in an order seed decides.
func shuffledEvents(events []eventlog.Event, seed uint64) []eventlog.Event {
	out := slices.Clone(events)
	rand.New(rand.NewPCG(seed, 0)).Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestEmbeddedPricesReachPrices replays a subscription whose plan and
// price intervals carry prices, a plan snapshot with its own, a newer
// price.edited and an older embedded copy delivered last: every price has
// a row, the newest copy wins (the older embedded one never does), and the
// prices that came inside a plan keep that plan as plan_id.
func TestEmbeddedPricesReachPrices(t *testing.T) {
	t.Parallel()
	edited := priceObj(t, fixturePrice)
	edited["name"], edited["external_price_id"] = "edited at 5", "ext_seats"
	events := []eventlog.Event{
		subscriptionWithPrices(t, "evt_sub", "plan_1", "embedded at 1", 1),
		planWithPrice(t, "evt_plan", "plan_2", "price_p2", 2),
		event(t, "evt_edit", "price.edited", at(5), map[string]any{"price": edited}),
		// Older than the edit, delivered after it.
		subscriptionWithPrices(t, "evt_old", "plan_1", "embedded at 3", 3),
	}
	for _, order := range []string{"in order", "reversed"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			evs := slices.Clone(events)
			if order == "reversed" {
				slices.Reverse(evs)
			}
			b := shapeRun(t, "prices", bothBatchings, evs...)
			for id, want := range map[string]struct{ name, last, plan, external any }{
				fixturePrice:     {"edited at 5", "evt_edit", "plan_1", "ext_seats"},
				"price_addon":    {"add-on embedded at 3", "evt_old", nil, nil},
				"price_p2":       {priceObj(t, "x")["name"], "evt_plan", "plan_2", nil},
				"5ChH3qaMaymXyy": {nil, "evt_old", "plan_1", nil},
			} {
				row := b.row(t, "prices", id)
				if want.name != nil && row["name"] != want.name || row[colLastEventID] != want.last ||
					row["plan_id"] != want.plan || row["external_price_id"] != want.external {
					t.Errorf("prices %s: name %v last %v plan_id %v external_price_id %v; want %v %v %v %v", id,
						row["name"], row[colLastEventID], row["plan_id"], row["external_price_id"],
						want.name, want.last, want.plan, want.external)
				}
				if row["model_config"] == nil || row["item_id"] == nil {
					t.Errorf("prices %s: model_config %v item_id %v", id, row["model_config"], row["item_id"])
				}
			}
			// The fixture plan's ten prices, the add-on and plan_2's.
			if n := b.count(t, "prices"); n != 12 {
				t.Errorf("%d prices, want 12", n)
			}
			b.checkRebuildMatches(t)
			b.checkHistoryMatchesCurrent(t)
		})
	}
}

// TestEmbeddedPricesShuffled delivers prices' histories from every source
// in order and shuffled: prices and prices_history come out the same, and
// a rebuild matches.
func TestEmbeddedPricesShuffled(t *testing.T) {
	t.Parallel()
	var events []eventlog.Event
	for i := range 30 {
		id := fmt.Sprintf("evt_%02d", i)
		switch i % 4 {
		case 0, 1:
			events = append(events, subscriptionWithPrices(t, id, fmt.Sprintf("plan_%d", i%3), fmt.Sprintf("embedded %d", i), (i*7)%30))
		case 2:
			p := priceObj(t, fixturePrice)
			p["name"] = fmt.Sprintf("edited %d", i)
			events = append(events, event(t, id, "price.edited", at((i*7)%30), map[string]any{"price": p}))
		default:
			events = append(events, planWithPrice(t, id, "plan_9", fixturePrice, (i*7)%30))
		}
	}
	want := setup(t)
	want.appendInChunks(t, events, len(events), 1000)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			got := setup(t)
			got.appendInChunks(t, shuffledEvents(events, seed), int(seed), int(seed))
			sameRows(t, "prices", got.rows(t, "prices", colLastEventSeq), want.rows(t, "prices", colLastEventSeq))
			sameRows(t, "prices_history", got.visibleVersions(t, "prices_history"), want.visibleVersions(t, "prices_history"))
			got.checkRebuildMatches(t)
			got.checkHistoryMatchesCurrent(t)
		})
	}
}

// subscriptionWithPlanPrices is a full subscription event whose plan
// carries the prices ids (each named after the event; bad, when set, gets
// a created_at no column takes), and whose price intervals are the
// fixture's (add-on prices unless the plan has them too).
func subscriptionWithPlanPrices(t *testing.T, id string, when int, bad string, ids ...string) eventlog.Event {
	s := subscriptionObj(t, "sub_"+id, "cus_1", "plan_1")
	prices := []any{}
	for _, pid := range ids {
		p := priceObj(t, pid)
		p["name"] = id
		if pid == bad {
			p["created_at"] = "not a date"
		}
		prices = append(prices, p)
	}
	s["plan"].(map[string]any)["prices"] = prices
	return event(t, id, "subscription.edited", at(when), map[string]any{"subscription": s})
}

// TestFannedPricesInOneBatch folds, in one batch and one event per batch,
// in order and shuffled, subscriptions whose plans carry different sets of
// prices at times out of log order, one of them the same price as a price
// interval (so that price comes from the plan in some events and from the
// intervals in others), and one of them the newest copy of a price with a
// bad value (set aside): a batch ranks only the newest and oldest event of
// each set of prices, and must still find each price's newest foldable copy;
// and an event older than some of its prices' rows (price_b's) but newer
// than others' (price_c's) still updates the latter, one event per batch.
func TestFannedPricesInOneBatch(t *testing.T) {
	t.Parallel()
	pool := []string{"price_a", "price_b", "price_c", "price_d", fixturePrice, "price_e"}
	sets := make([][]string, 40)
	newestE, newestEWhen := -1, -1
	for i := range sets {
		// Five sets of prices, eight events each.
		set := []int{0b00011, 0b00110, 0b01101, 0b11010, 0b110101}[i%5]
		for j, pid := range pool {
			if (set>>j)&1 == 1 {
				sets[i] = append(sets[i], pid)
			}
		}
		if when := (i * 13) % 40; slices.Contains(sets[i], "price_e") && when > newestEWhen {
			newestE, newestEWhen = i, when
		}
	}
	var events []eventlog.Event
	for i, ids := range sets {
		bad := ""
		if i == newestE {
			bad = "price_e" // Its newest copy cannot be folded.
		}
		events = append(events, subscriptionWithPlanPrices(t, fmt.Sprintf("evt_%02d", i), (i*13)%40, bad, ids...))
	}
	want := setup(t)
	want.appendInChunks(t, events, 1, 1)
	want.checkRebuildMatches(t)
	wantRows := want.rows(t, "prices", colLastEventSeq)
	if len(wantRows) != 6+9 { // The pool and the fixture's other interval prices.
		t.Fatalf("%d prices, want 15", len(wantRows))
	}
	// price_e comes only with the fifth set, whose newest event (evt_09, at
	// 37 s) is set aside: its row is that set's next newest (evt_24, 32 s).
	if last := wantRows["price_e"][colLastEventID]; last != "evt_24" || events[newestE].ID != "evt_09" {
		t.Errorf("price_e last event %v, want evt_24 (set aside: %s)", last, events[newestE].ID)
	}
	// evt_06 (at 38 s) carries price_b, whose row is then evt_03's (39 s),
	// and price_c, whose newest copy it is.
	if last := wantRows["price_c"][colLastEventID]; last != "evt_06" {
		t.Errorf("price_c last event %v, want evt_06", last)
	}
	for _, c := range []struct {
		name         string
		seed         uint64
		chunk, batch int
	}{{"one batch", 0, len(events), 1000}, {"shuffled, one batch", 1, len(events), 1000}, {"shuffled, batches of 7", 2, 11, 7}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			evs := events
			if c.seed != 0 {
				evs = shuffledEvents(events, c.seed)
			}
			got := setup(t)
			got.appendInChunks(t, evs, c.chunk, c.batch)
			sameRows(t, "prices", got.rows(t, "prices", colLastEventSeq), wantRows)
			got.checkRebuildMatches(t)
		})
	}
}

// TestEmbeddedPriceRepeatsInHistory folds a plan's price that every
// subscription event embeds, repeated, changed, repeated and changed back,
// in one batch and one event per batch: each change is a version (the
// change back too), each repeat none, and a price embedded unchanged has
// one version. The history skips repeated items by fingerprint before it
// reads them whole; this is what it must not skip.
func TestEmbeddedPriceRepeatsInHistory(t *testing.T) {
	t.Parallel()
	names := []string{"a", "a", "b", "b", "a", "a"}
	var events []eventlog.Event
	for i, name := range names {
		id := fmt.Sprintf("evt_%d", i)
		changing, steady := priceObj(t, "price_changing"), priceObj(t, "price_steady")
		changing["name"] = name
		s := subscriptionObj(t, "sub_"+id, "cus_1", "plan_1")
		s["plan"].(map[string]any)["prices"] = []any{changing, steady}
		events = append(events, event(t, id, "subscription.edited", at(i+1), map[string]any{"subscription": s}))
	}
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.append(t, events...)
			b.drain(t, batch)
			want := []version{
				{"a", "evt_0", "12:00:01", "12:00:03", "subscription.edited", "webhook"},
				{"b", "evt_2", "12:00:03", "12:00:05", "subscription.edited", "webhook"},
				{"a", "evt_4", "12:00:05", "inf", "subscription.edited", "webhook"},
			}
			if got := b.versions(t, "prices", "price_changing"); !slices.Equal(got, want) {
				t.Errorf("price_changing versions %v, want %v", got, want)
			}
			if got := b.versions(t, "prices", "price_steady"); len(got) != 1 || got[0].EventID != "evt_0" || got[0].To != "inf" {
				t.Errorf("price_steady versions %v, want one, from evt_0", got)
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// TestEmbeddedPriceChangeJSONBHashMisses changes two metadata values of an
// embedded price, sixteen keys apart, in the same way. jsonb's own hash
// (jsonb_hash_extended) folds keys and values with a rotation of period
// 32, so the two objects hash alike under every seed: a fingerprint built
// on it took the change for a repeat and lost the version.
func TestEmbeddedPriceChangeJSONBHashMisses(t *testing.T) {
	t.Parallel()
	price := func(v string) map[string]any {
		p := priceObj(t, "price_meta")
		meta := map[string]any{}
		for k := 0; k <= 16; k++ {
			meta[fmt.Sprintf("k%02d", k)] = fmt.Sprintf("v%d", k)
		}
		meta["k00"], meta["k16"] = v, v
		p["metadata"] = meta
		return p
	}
	var events []eventlog.Event
	for i, v := range []string{"x", "y", "y"} {
		id := fmt.Sprintf("evt_%d", i)
		s := subscriptionObj(t, "sub_"+id, "cus_1", "plan_1")
		s["plan"].(map[string]any)["prices"] = []any{price(v)}
		events = append(events, event(t, id, "subscription.edited", at(i+1), map[string]any{"subscription": s}))
	}
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			// The case this test is for: different objects, alike under
			// jsonb_hash_extended with both seeds the fold once used.
			x, err := json.Marshal(price("x"))
			if err != nil {
				t.Fatal(err)
			}
			y, err := json.Marshal(price("y"))
			if err != nil {
				t.Fatal(err)
			}
			var equal, alike bool
			if err := b.schema.Pool.QueryRow(context.Background(), `select $1::jsonb = $2::jsonb,
				jsonb_hash_extended($1::jsonb, 0) = jsonb_hash_extended($2::jsonb, 0) and jsonb_hash_extended($1::jsonb, 1) = jsonb_hash_extended($2::jsonb, 1)`,
				string(x), string(y)).Scan(&equal, &alike); err != nil {
				t.Fatal(err)
			}
			if equal || !alike {
				t.Fatalf("precondition: objects equal %v, hashed alike %v; want different objects hashed alike", equal, alike)
			}
			b.append(t, events...)
			b.drain(t, batch)
			got := b.versions(t, "prices", "price_meta")
			var ids []string
			for _, v := range got {
				ids = append(ids, v.EventID+" "+v.From+"–"+v.To)
			}
			if want := []string{"evt_0 12:00:01–12:00:02", "evt_1 12:00:02–inf"}; !slices.Equal(ids, want) {
				t.Errorf("price_meta versions %v, want %v", ids, want)
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}
