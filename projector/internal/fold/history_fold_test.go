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

// TestFoldShortcutWritesTheGeneralRows pins foldValue's shortcut (an
// entity's newest full object taken as it is, not fed to the aggregate)
// against the aggregate alone: full and partial objects, repeats, events
// older than the entity's current version and ties in time, applied in
// rounds of several sizes, give the same history either way. Not
// parallel: it sets foldShortcut, which every compile reads.
func TestFoldShortcutWritesTheGeneralRows(t *testing.T) {
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	events := pgx.Identifier{s.Name, "events"}.Sanitize()
	rng := rand.New(rand.NewPCG(11, 1))
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 120
	for seq := 1; seq <= n; seq++ {
		id := fmt.Sprintf("sub_%d", rng.IntN(4))
		obj := map[string]any{"id": id, "status": []string{"active", "ended", "upcoming"}[rng.IntN(3)],
			"customer": map[string]any{"id": "cus_1"}, "plan": map[string]any{"id": fmt.Sprintf("plan_%d", rng.IntN(2))}}
		typ := "subscription.alert_disabled" // A summary: partial.
		if rng.IntN(3) > 0 {
			typ = "subscription.edited"
			obj["price_intervals"] = []any{map[string]any{"id": "pi_1", "fixed_fee_quantity_transitions": []any{}}}
			obj["net_terms"] = rng.IntN(2) * 30
			obj["metadata"] = map[string]any{"k": fmt.Sprint(rng.IntN(2))} // Often a repeat of the one before.
		}
		// Mostly in order; some late (older than events already logged), some tied.
		at := base.Add(time.Duration(seq) * time.Minute)
		switch rng.IntN(6) {
		case 0:
			at = base.Add(time.Duration(rng.IntN(seq+1)) * time.Minute)
		case 1:
			at = base.Add(time.Duration(seq-1) * time.Minute)
		}
		payload, err := json.Marshal(map[string]any{"id": fmt.Sprintf("evt_%d", seq), "type": typ, "subscription": obj})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool.Exec(ctx, "insert into "+events+" (seq, event_id, type, created_at, source, resource_type, resource_id, body, payload)"+
			" values ($1, $2, $3, $4, 'webhook', 'subscription', $5, $6, $7)", seq, fmt.Sprintf("evt_%d", seq), typ, at, id, payload, string(payload)); err != nil {
			t.Fatal(err)
		}
	}
	compile := func(shortcut bool) *Target {
		t.Helper()
		foldShortcut = shortcut
		defer func() { foldShortcut = true }()
		tg, err := Compile(ctx, s.Pool, s.Name, "subscriptions_history", "subscriptions_history")
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	// Compiled one after the other: foldShortcut is read while generating.
	shortcut, general := compile(true), compile(false)
	history := pgx.Identifier{s.Name, "subscriptions_history"}.Sanitize()
	fold := func(tg *Target, round int64) string {
		t.Helper()
		if _, err := s.Pool.Exec(ctx, "truncate "+history); err != nil {
			t.Fatal(err)
		}
		for from := int64(0); from < n; from += round {
			tx, err := s.Pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tg.Apply(ctx, tx, from, min(from+round, n)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var rows string
		var count int
		if err := s.Pool.QueryRow(ctx, "select count(*), coalesce(string_agg(h::text, E'\\n' order by h.id, h.valid_from, h.last_event_seq), '') from "+history+" h").Scan(&count, &rows); err != nil {
			t.Fatal(err)
		}
		if count < 8 {
			t.Fatalf("%d versions: the events do not exercise the fold", count)
		}
		return rows
	}
	for _, round := range []int64{1, 2, 7, n} {
		if got, want := fold(shortcut, round), fold(general, round); got != want {
			t.Errorf("rounds of %d: the shortcut's history\n%s\nthe aggregate's\n%s", round, got, want)
		}
	}
}
