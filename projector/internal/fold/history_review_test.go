package fold

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestIntegralIsTheObjectWhereNotCalled pins the history's gate on
// jsonb_integral (integralOf, as generated for subscriptions_history):
// for every object, the gated expression gives the bytes the function
// called on every object gives. Numbers in every spelling (points,
// exponents of either case and sign, negative zero, huge exponents),
// numbers nested under the integer keys, strings that look like numbers,
// absent keys, nulls, objects that are not objects.
func TestIntegralIsTheObjectWhereNotCalled(t *testing.T) {
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	tg, err := Compile(ctx, s.Pool, s.Name, "subscriptions_history", "subscriptions_history")
	if err != nil {
		t.Fatal(err)
	}
	g := newSQLGen(tg.Projection(), s.Name, s.Name, "subscriptions_history", "subscriptions_history", tg.Columns())
	if keys := g.integerKeys(); len(keys) < 2 {
		t.Fatalf("integer keys %v: nothing to gate", keys)
	}
	spellings := []string{`30`, `30.0`, `3E1`, `3e1`, `1E+1`, `1e-0`, `1.0E1`, `300e-1`, `-0`, `-0.0`, `0e0`, `-1e1`,
		`1e1000`, `1.5`, `30.5`, `1e-1000`, `99999999999999999999999`, `99999999999999999999999.000`, `"30.0"`, `"1e1"`,
		`null`, `true`, `[1.0]`, `{"a": 1.0}`, `[1e1, 2]`}
	var objs []string
	for _, a := range spellings {
		objs = append(objs, fmt.Sprintf(`{"net_terms": %s, "x": 1.0}`, a))
		for _, b := range spellings {
			objs = append(objs, fmt.Sprintf(`{"net_terms": %s, "billing_cycle_day": %s, "n": {"net_terms": 1.0}}`, a, b))
		}
	}
	objs = append(objs, `{}`, `{"x": 1.0}`, `[]`, `1.0`, `"net_terms"`)
	q := fmt.Sprintf(`select o::text, pg_catalog.jsonb_send(%s) = pg_catalog.jsonb_send(%s), pg_catalog.jsonb_send(%[2]s) = pg_catalog.jsonb_send(o)
	  from unnest($1::jsonb[]) o`, g.integralOf("o"), g.integral("o"))
	rows, err := s.Pool.Query(ctx, q, objs)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var rewritten int
	for rows.Next() {
		var o string
		var same, unchanged bool
		if err := rows.Scan(&o, &same, &unchanged); err != nil {
			t.Fatal(err)
		}
		if !unchanged {
			rewritten++
		}
		if !same {
			t.Errorf("%s: the history's gate gives other bytes than jsonb_integral", o)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if rewritten == 0 {
		t.Fatal("jsonb_integral rewrote no object: the spellings do not exercise the gate")
	}
}

// TestFoldShortcutUnderRecomputesAndDeadLetters compares foldValue's
// shortcut with the aggregate alone, byte for byte (record_send), for
// subscriptions_history and customers_history: full and partial objects
// (customers also from the customer embedded in subscription events),
// duplicates (the same event logged twice), ties in created_at, late
// events, repeated identical full objects, integers spelled 30.0 / 3E1 /
// -0.0, a real fraction in an integer column (dead-lettered), rounds of
// several sizes, then a forced recompute of every entity.
func TestFoldShortcutUnderRecomputesAndDeadLetters(t *testing.T) {
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	events := pgx.Identifier{s.Name, "events"}.Sanitize()
	rng := rand.New(rand.NewPCG(29, 3))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 160
	insert := func(seq int, typ, rtype, id string, at time.Time, payload []byte) {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, "insert into "+events+" (seq, event_id, type, created_at, source, resource_type, resource_id, body, payload)"+
			" values ($1, $2, $3, $4, 'webhook', $5, $6, $7, $8)", seq, fmt.Sprintf("evt_%d", seq), typ, at, rtype, id, payload, string(payload)); err != nil {
			t.Fatal(err)
		}
	}
	var prev []byte
	var prevType, prevRType, prevID string
	var prevAt time.Time
	terms := []json.RawMessage{json.RawMessage(`30`), json.RawMessage(`30.0`), json.RawMessage(`3E1`), json.RawMessage(`-0.0`), json.RawMessage(`0`), json.RawMessage(`1e1`)}
	for seq := 1; seq <= n; seq++ {
		at := base.Add(time.Duration(seq/2) * time.Minute) // Ties everywhere.
		if rng.IntN(5) == 0 {
			at = base.Add(time.Duration(rng.IntN(seq+1)/2) * time.Minute)
		}
		if prev != nil && rng.IntN(8) == 0 { // The same event delivered again.
			insert(seq, prevType, prevRType, prevID, prevAt, prev)
			continue
		}
		cus := fmt.Sprintf("cus_%d", rng.IntN(3))
		var typ, rtype, id string
		var payload map[string]any
		switch rng.IntN(3) {
		case 0:
			rtype, id = "customer", cus
			obj := map[string]any{"id": cus, "name": fmt.Sprint("n", rng.IntN(2)), "metadata": map[string]any{"k": json.RawMessage(`1.0`)}}
			typ = "customer.edited"
			if rng.IntN(2) == 0 {
				typ = "customer.credit_balance_depleted"
				obj = map[string]any{"id": cus, "balance": fmt.Sprint(rng.IntN(2))}
			}
			payload = map[string]any{"customer": obj}
		default:
			rtype, id = "subscription", fmt.Sprintf("sub_%d", rng.IntN(3))
			obj := map[string]any{"id": id, "status": []string{"active", "ended"}[rng.IntN(2)],
				"customer": map[string]any{"id": cus, "name": fmt.Sprint("n", rng.IntN(2))}, "plan": map[string]any{"id": "plan_1"}}
			typ = "subscription.alert_disabled"
			if rng.IntN(3) > 0 {
				typ = "subscription.edited"
				obj["price_intervals"] = []any{}
				obj["net_terms"] = terms[rng.IntN(len(terms))]
				obj["billing_cycle_day"] = terms[rng.IntN(len(terms))]
				if rng.IntN(25) == 0 {
					obj["net_terms"] = json.RawMessage(`30.5`) // A data error: dead-lettered.
				}
			}
			payload = map[string]any{"subscription": obj}
		}
		payload["id"], payload["type"] = fmt.Sprintf("evt_%d", seq), typ
		b, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		insert(seq, typ, rtype, id, at, b)
		prev, prevType, prevRType, prevID, prevAt = b, typ, rtype, id, at
	}
	for _, table := range []string{"subscriptions_history", "customers_history"} {
		compile := func(shortcut bool) *Target {
			t.Helper()
			foldShortcut = shortcut
			defer func() { foldShortcut = true }()
			tg, err := Compile(ctx, s.Pool, s.Name, table, table)
			if err != nil {
				t.Fatal(err)
			}
			return tg
		}
		shortcut, general := compile(true), compile(false)
		if !(&sqlGen{p: shortcut.Projection()}).peerless() {
			t.Fatalf("%s: not peerless, the shortcut is not exercised", table)
		}
		history := pgx.Identifier{s.Name, table}.Sanitize()
		dl := pgx.Identifier{s.Name, "dead_letters"}.Sanitize()
		dump := func() string {
			t.Helper()
			var rows, dead string
			var count int
			if err := s.Pool.QueryRow(ctx, "select count(*), coalesce(string_agg(encode(pg_catalog.record_send(h), 'hex'), E'\\n' order by h.id, h.valid_from, h.last_event_seq), '') from "+history+" h").Scan(&count, &rows); err != nil {
				t.Fatal(err)
			}
			if err := s.Pool.QueryRow(ctx, "select coalesce(string_agg(d.seq::text || ' ' || d.error, E'\\n' order by d.seq), '') from "+dl+" d where d.projection = $1", table).Scan(&dead); err != nil {
				t.Fatal(err)
			}
			if count < 8 {
				t.Fatalf("%s: %d versions: the events do not exercise the fold", table, count)
			}
			if table == "subscriptions_history" && dead == "" {
				t.Fatal("no event dead-lettered: the events do not exercise the fold's data errors")
			}
			return rows + "\n" + dead
		}
		run := func(tg *Target, round int64) (folded, recomputed string) {
			t.Helper()
			if _, err := s.Pool.Exec(ctx, "truncate "+history+"; delete from "+dl); err != nil {
				t.Fatal(err)
			}
			for from := int64(0); from < n; from += round {
				tx, err := s.Pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := PrepareTx(ctx, tx); err != nil {
					t.Fatal(err)
				}
				if _, err := tg.Apply(ctx, tx, from, min(from+round, n)); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			folded = dump()
			tx, err := s.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := PrepareTx(ctx, tx); err != nil {
				t.Fatal(err)
			}
			if _, err := tg.Recompute(ctx, tx, []string{"sub_0", "sub_1", "sub_2", "cus_0", "cus_1", "cus_2"}, n); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			return folded, dump()
		}
		for _, round := range []int64{1, 3, 10, n} {
			gotF, gotR := run(shortcut, round)
			wantF, wantR := run(general, round)
			if gotF != wantF {
				t.Errorf("%s, rounds of %d: the shortcut's history\n%s\nthe aggregate's\n%s", table, round, gotF, wantF)
			}
			if gotR != wantR {
				t.Errorf("%s, rounds of %d, recomputed: the shortcut's history\n%s\nthe aggregate's\n%s", table, round, gotR, wantR)
			}
		}
	}
}
