package orbsync

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// TestReconcileScansFollowObjectsNotTheLog: with a long history for a few
// customers, finding each one's newest event reads about one row per
// object, not every event of the type, so the scan does not grow with the
// log (and does not run into the statement timeout on a large one).
func TestReconcileScansFollowObjectsNotTheLog(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	const objects, perObject = 5, 300
	var events []eventlog.Event
	for i := range objects * perObject {
		body := webhookBody(fmt.Sprintf("evt_%05d", i), "customer.edited", t0.Add(time.Duration(i)*time.Second),
			"customer", customer(i%objects, nil))
		env, err := eventlog.ParseEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, eventlog.Event{Envelope: env, Body: body, OrbTimestamp: "2025-01-08T08:19:20.551", OrbSignature: "v1=00"})
	}
	a, err := eventlog.NewAppender(b.schema.Pool, eventlog.AppenderConfig{Schema: b.schema.Name})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.AppendBatch(ctx, events); err != nil {
		t.Fatal(err)
	}
	if _, err := b.schema.Pool.Exec(ctx, "analyze "+b.schema.Name+".events"); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"existing objects":    {b.runner.q.ExistingObjects, []any{"customer"}},
		"stale subscriptions": {b.runner.q.StaleSubscriptions, []any{time.Now(), 500}},
	} {
		var plan []map[string]any
		if err := b.schema.Pool.QueryRow(ctx, "explain (analyze, format json) "+q.sql, q.args...).Scan(&plan); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if read := rowsReadFrom(plan[0]["Plan"], "events"); read > 4*objects+10 {
			js, _ := json.MarshalIndent(plan, "", " ")
			t.Errorf("%s read %v rows of events for %d objects (%d events):\n%s", name, read, objects, objects*perObject, js)
		}
	}
	var newest []string
	rows, err := b.schema.Pool.Query(ctx, b.runner.q.ExistingObjects, "customer")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, eventID string
		var at time.Time
		if err := rows.Scan(&id, &eventID, &at); err != nil {
			t.Fatal(err)
		}
		newest = append(newest, id+"="+eventID)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Customer i%5 last appears in event objects*perObject-objects+i.
	for i, got := range newest {
		if want := fmt.Sprintf("%s=evt_%05d", customerID(i), objects*perObject-objects+i); got != want {
			t.Errorf("newest event %d: %s, want %s", i, got, want)
		}
	}
	if len(newest) != objects {
		t.Errorf("existing objects: %v", newest)
	}
}

// rowsReadFrom sums the rows every scan of relation returned, over all its
// loops, in an EXPLAIN ANALYZE plan.
func rowsReadFrom(node any, relation string) float64 {
	n, ok := node.(map[string]any)
	if !ok {
		return 0
	}
	var sum float64
	if n["Relation Name"] == relation {
		rows, _ := n["Actual Rows"].(float64)
		loops, _ := n["Actual Loops"].(float64)
		removed, _ := n["Rows Removed by Filter"].(float64)
		sum += (rows + removed) * loops
	}
	children, _ := n["Plans"].([]any)
	for _, c := range children {
		sum += rowsReadFrom(c, relation)
	}
	return sum
}
