package projector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// The history's names, from projector/internal/fold.
var (
	historyColumns = fold.HistoryColumns()
	versioned      = fold.VersionedTables()
)

const (
	colValidFrom   = fold.ColValidFrom
	colEventType   = fold.ColEventType
	colEventSource = fold.ColEventSource
	colFoldedSeq   = fold.ColFoldedSeq
)

// checkHistoryMatchesCurrent checks that each entity's current version
// (valid_to = infinity) is its row in the current table, column for column
// (less provenance: the row names the newest event folded, the version the
// one that changed it), and that every entity has exactly one.
func (b *testBundle) checkHistoryMatchesCurrent(t *testing.T) {
	t.Helper()
	meta := append([]string{colLastEventID, colLastEventSeq, colLastEventAt}, historyColumns...)
	for _, p := range catalog {
		if !p.History {
			continue
		}
		q := fmt.Sprintf(`select coalesce(c.id, h.id), to_jsonb(c) - $1::text[], to_jsonb(h) - $1::text[]
from %s c full join (select * from %s where valid_to = 'infinity') h on h.id = c.id
where (to_jsonb(c) - $1::text[]) is distinct from (to_jsonb(h) - $1::text[])
   or (select count(*) from %[2]s x where x.id = coalesce(c.id, h.id) and x.valid_to = 'infinity') <> 1
limit 5`, pgx.Identifier{b.schema.Name, p.BaseTable()}.Sanitize(), pgx.Identifier{b.schema.Name, p.Table}.Sanitize())
		rows, err := b.schema.Pool.Query(context.Background(), q, meta)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var cur, ver map[string]any
			if err := rows.Scan(&id, &cur, &ver); err != nil {
				t.Fatal(err)
			}
			t.Errorf("%s %s: current row %.300v, current version %.300v", p.Table, id, cur, ver)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// version is one history row, as the tests compare it.
type version struct {
	Name      string
	EventID   string
	From, To  string
	EventType string
	Source    string
}

func (b *testBundle) versions(t *testing.T, table, id string) []version {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf(`select coalesce(name, ''), last_event_id,
  to_char(valid_from at time zone 'UTC', 'HH24:MI:SS'), case when valid_to = 'infinity' then 'inf' else to_char(valid_to at time zone 'UTC', 'HH24:MI:SS') end,
  event_type, event_source
from %s where id = $1 order by valid_from, last_event_seq`, pgx.Identifier{b.schema.Name, table + "_history"}.Sanitize()), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[version])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// asOfName is the customer's name in customers_as_of(ts), or "-" when the
// customer did not exist yet.
func (b *testBundle) asOfName(t *testing.T, id string, ts time.Time) string {
	t.Helper()
	var names []string
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf("select name from %s($1) where id = $2",
		pgx.Identifier{b.schema.Name, "customers_as_of"}.Sanitize()), ts, id)
	if err != nil {
		t.Fatal(err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	switch len(names) {
	case 0:
		return "-"
	case 1:
		return names[0]
	}
	t.Fatalf("customers_as_of(%s) has %d rows for %s", ts, len(names), id)
	return ""
}

// TestHistoryVersions plays one customer's life with a late event, an
// event that changes nothing, a duplicate delivery and a snapshot equal to
// the current state, and checks the versions, their intervals, the as-of
// function at the interval boundaries and the change feed.
func TestHistoryVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	named := func(id, typ string, sec int, name string, props map[string]any) eventlog.Event {
		c := customerObj(t, "cus_h")
		c["name"] = name
		return event(t, id, typ, at(sec), map[string]any{"customer": c, "properties": props})
	}
	e1 := named("evt_1", "customer.created", 10, "A", nil)
	e2 := named("evt_2", "customer.edited", 20, "B", map[string]any{"previous_attributes": map[string]any{"name": "A"}})
	e3 := named("evt_3", "customer.credit_balance_dropped", 30, "B", map[string]any{"balance_threshold": "5"}) // Same object.
	b.append(t, e1, e2, e3)
	b.drain(t, 2)
	want := []version{
		{"A", "evt_1", "12:00:10", "12:00:20", "customer.created", "webhook"},
		{"B", "evt_2", "12:00:20", "inf", "customer.edited", "webhook"},
	}
	if got := b.versions(t, "customers", "cus_h"); !slices.Equal(got, want) {
		t.Fatalf("versions = %v, want %v", got, want)
	}

	// A late event splits [10, 20); a duplicate changes nothing; a snapshot
	// equal to the current state adds no version.
	late := named("evt_4", "customer.edited", 15, "A2", nil)
	b.append(t, late)
	res, err := b.appender.AppendBatch(context.Background(), []eventlog.Event{e2})
	if err != nil || !res[0].Duplicate {
		t.Fatalf("duplicate delivery: %v, %v", res, err)
	}
	snap := named("snap_1", "snapshot.customer", 40, "B", map[string]any{"origin": "backfill"})
	b.append(t, snap)
	b.drain(t, 1)
	want = []version{
		{"A", "evt_1", "12:00:10", "12:00:15", "customer.created", "webhook"},
		{"A2", "evt_4", "12:00:15", "12:00:20", "customer.edited", "webhook"},
		{"B", "evt_2", "12:00:20", "inf", "customer.edited", "webhook"},
	}
	if got := b.versions(t, "customers", "cus_h"); !slices.Equal(got, want) {
		t.Fatalf("versions after a late event = %v, want %v", got, want)
	}
	b.checkHistoryMatchesCurrent(t)
	b.checkRebuildMatches(t)

	tick := time.Microsecond
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{at(10).Add(-tick), "-"}, {at(10), "A"}, {at(15).Add(-tick), "A"}, {at(15), "A2"},
		{at(20).Add(-tick), "A2"}, {at(20), "B"}, {at(1000), "B"},
	} {
		if got := b.asOfName(t, "cus_h", c.at); got != c.want {
			t.Errorf("customers_as_of(%s) name = %q, want %q", c.at.Format(time.RFC3339Nano), got, c.want)
		}
	}

	type change struct {
		EventID string
		Changed bool
		Name    *string
		Prev    map[string]any
	}
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf(
		"select event_id, changed, changes #>> '{name,new}', previous_attributes from %s('customers', 'cus_h')",
		pgx.Identifier{b.schema.Name, "changes"}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
	feed, err := pgx.CollectRows(rows, pgx.RowToStructByPos[change])
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) *string { return &s }
	wantFeed := []change{
		{"evt_1", true, str("A"), nil}, {"evt_4", true, str("A2"), nil},
		{"evt_2", true, str("B"), map[string]any{"name": "A"}}, {"evt_3", false, nil, nil}, {"snap_1", false, nil, nil},
	}
	if len(feed) != len(wantFeed) {
		t.Fatalf("change feed = %+v, want %+v", feed, wantFeed)
	}
	for i := range feed {
		g, w := feed[i], wantFeed[i]
		if g.EventID != w.EventID || g.Changed != w.Changed || (g.Name == nil) != (w.Name == nil) ||
			g.Name != nil && *g.Name != *w.Name || fmt.Sprint(g.Prev) != fmt.Sprint(w.Prev) {
			t.Errorf("change feed row %d = %+v, want %+v", i, g, w)
		}
	}
	var old string
	if err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf(
		"select changes #>> '{name,old}' from %s('customers', 'cus_h') where event_id = 'evt_2'",
		pgx.Identifier{b.schema.Name, "changes"}.Sanitize())).Scan(&old); err != nil || old != "A2" {
		t.Errorf("evt_2 changed name from %q (%v), want A2", old, err)
	}

	results, err := Verify(context.Background(), b.schema.Pool, b.schema.Name, []string{"customers_history"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !results[0].OK() || results[0].Rows != 3 {
		t.Errorf("verify customers_history = %+v", results[0])
	}
}

// TestHistoryKeepsARepeatAfterABalanceTransaction: a customer's balance
// after a balance transaction follows the burst's chain, not the object,
// so an object equal to that transaction's (a subscription embedding the
// customer) still makes a version when it puts the object's balance back;
// between other events an equal object is skipped.
func TestHistoryKeepsARepeatAfterABalanceTransaction(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{1, 10} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			// The chain ends at 25; the newest transaction (evt_a) says 10.
			tx1, tx2 := balanceEvent(t, "evt_b", 1, "10.00", "25.00"), balanceEvent(t, "evt_a", 1, "0.00", "10.00")
			c := customerObj(t, "cus_1")
			c["balance"] = "10.00" // evt_a's object, as folded.
			sub := func(id string, sec int) eventlog.Event {
				s := subscriptionObj(t, "sub_"+id, "cus_1", "plan_1")
				s["customer"] = c
				return event(t, id, "subscription.edited", at(sec), map[string]any{"subscription": s})
			}
			b.append(t, tx1, tx2, sub("evt_s1", 2), sub("evt_s2", 3))
			b.drain(t, batch)
			if got := b.row(t, "customers", "cus_1")["balance"]; got != 10.0 {
				t.Errorf("balance %v, want 10 (the object after the burst)", got)
			}
			var balances []string
			rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf("select last_event_id || ':' || balance from %s where id = 'cus_1' order by valid_from, last_event_seq",
				pgx.Identifier{b.schema.Name, "customers_history"}.Sanitize()))
			if err != nil {
				t.Fatal(err)
			}
			if balances, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
			if want := []string{"evt_b:25.00", "evt_s1:10.00"}; !slices.Equal(balances, want) {
				t.Errorf("versions %v, want %v", balances, want)
			}
			b.checkHistoryMatchesCurrent(t)
			b.checkRebuildMatches(t)
		})
	}
}

// TestAsOfEqualsReplayUpToThen checks history against an independent
// computation: for several instants, the as-of functions of a log delivered
// shuffled must equal the current tables of a fresh log holding only the
// events created up to that instant (provenance aside: a current row names
// the newest event folded, a version the event that changed it).
func TestAsOfEqualsReplayUpToThen(t *testing.T) {
	t.Parallel()
	events := history(t, 99, 90)
	shuffled := slices.Clone(events)
	rand.New(rand.NewPCG(5, 5)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := setup(t)
	b.appendInChunks(t, shuffled, 13, 7)
	provenance := append([]string{colLastEventID, colLastEventSeq, colLastEventAt}, historyColumns...)
	for _, ts := range []time.Time{at(20), at(45), at(45).Add(-time.Microsecond), at(89)} {
		var upTo []eventlog.Event
		for _, e := range events {
			if !e.CreatedAt.After(ts) {
				upTo = append(upTo, e)
			}
		}
		replay := setup(t)
		replay.append(t, upTo...)
		replay.drain(t, 1000)
		for _, table := range versioned {
			want := replay.rowsOfSchema(t, replay.schema.Name, table, "")
			got := b.rowsOfSchema(t, b.schema.Name, table+"_as_of", "($1)", ts)
			for _, rows := range []map[string]map[string]any{want, got} {
				for _, r := range rows {
					for _, c := range provenance {
						delete(r, c)
					}
				}
			}
			sameRows(t, fmt.Sprintf("%s as of %s", table, ts.Format(time.RFC3339Nano)), got, want)
		}
	}
}

// visibleVersions dumps the versions as-of can see, by id and start, with
// their data and interval. Events with one created_at are ordered by log
// position, so which of them produced the version in effect after that
// instant (and which got an empty interval) depends on delivery order;
// what is in effect at every instant does not.
func (b *testBundle) visibleVersions(t *testing.T, table string) map[string]map[string]any {
	t.Helper()
	p, _ := projectionByName(table)
	q := fmt.Sprintf(`select concat_ws('@', r.%s, r.valid_from), to_jsonb(r) - $1::text[] from %s r where r.valid_from < r.valid_to`,
		pgx.Identifier{p.Key}.Sanitize(), pgx.Identifier{b.schema.Name, table}.Sanitize())
	rows, err := b.schema.Pool.Query(context.Background(), q,
		[]string{colLastEventID, colLastEventSeq, colEventType, colEventSource, colFoldedSeq})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for rows.Next() {
		var k string
		var row map[string]any
		if err := rows.Scan(&k, &row); err != nil {
			t.Fatal(err)
		}
		out[k] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutHistory leaves out the history projections' dead letters: they
// fold by the same rule and set aside the same events as their tables.
func withoutHistory(dls []DeadLetter) []DeadLetter {
	var out []DeadLetter
	for _, d := range dls {
		if p, ok := projectionByName(strings.SplitN(d.Projection, "@", 2)[0]); !ok || !p.History {
			out = append(out, d)
		}
	}
	return out
}
