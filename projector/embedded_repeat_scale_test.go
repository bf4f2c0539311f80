package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// visibleVersionsText is visibleVersions with each row as PostgreSQL's
// text of it: values equal as jsonb but written apart (1.0, 1.00) make
// different rows here, as they are different bytes in the table.
func (b *testBundle) visibleVersionsText(t *testing.T, table string) map[string]string {
	t.Helper()
	p, _ := projectionByName(table)
	q := fmt.Sprintf(`select concat_ws('@', r.%s, r.valid_from), (to_jsonb(r) - $1::text[])::text from %s r where r.valid_from < r.valid_to`,
		pgx.Identifier{p.Key}.Sanitize(), pgx.Identifier{b.schema.Name, table}.Sanitize())
	rows, err := b.schema.Pool.Query(context.Background(), q,
		[]string{colLastEventID, colLastEventSeq, colEventType, colEventSource, colFoldedSeq})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, row string
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

// sameRowsText fails t where got's rows are not want's, byte for byte.
func sameRowsText(t *testing.T, table string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: row %s missing", table, k)
		} else if g != w {
			t.Errorf("%s: row %s\n got %.1500s\nwant %.1500s", table, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: row %s unexpected", table, k)
		}
	}
}

// jsonbEqualEvents embed a customer and a plan equal as jsonb to the ones
// before them but written apart (metadata n: 1.0, then 1.00), after the
// same source and after another one (customer.edited, snapshot.plan),
// each time followed by a summary whose partial objects merge onto the
// full object the fold kept: its row holds that object's bytes.
func jsonbEqualEvents(t *testing.T) []eventlog.Event {
	var events []eventlog.Event
	add := func(typ string, fields map[string]any) {
		i := len(events)
		events = append(events, event(t, fmt.Sprintf("evt_%02d", i), typ, at(i+1), fields))
	}
	sub := func(n, name string) map[string]any {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		s["customer"].(map[string]any)["metadata"] = map[string]any{"n": json.Number(n)}
		plan := s["plan"].(map[string]any)
		plan["metadata"] = map[string]any{"n": json.Number(n)}
		plan["name"] = name
		return s
	}
	summary := func(ext string) {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		delete(s, "price_intervals")
		s["customer"] = map[string]any{"id": "cus_1", "external_customer_id": ext}
		s["plan"] = map[string]any{"id": "plan_1", "external_plan_id": "ext_plan_1", "name": ext}
		add("subscription.edited", map[string]any{"subscription": s})
	}
	add("subscription.edited", map[string]any{"subscription": sub("1.0", "p")})
	add("subscription.edited", map[string]any{"subscription": sub("1.00", "p")})
	summary("s1")
	add("subscription.edited", map[string]any{"subscription": sub("2", "q")})
	other := sub("1.0", "q")
	add("customer.edited", map[string]any{"customer": other["customer"]})
	add("snapshot.plan", map[string]any{"plan": other["plan"]})
	add("subscription.edited", map[string]any{"subscription": sub("1.00", "q")})
	summary("s2")
	add("subscription.edited", map[string]any{"subscription": sub("1.0", "q")})
	add("subscription.edited", map[string]any{"subscription": sub("1.00", "q")})
	add("subscription.edited", map[string]any{"subscription": sub("1.000", "q")})
	summary("s3")
	return events
}

// TestEmbeddedRepeatKeysJSONBEqualObjects: a customer or plan equal as
// jsonb to the one before it but not written alike is a repeat to the
// payload path, which folds on from the first; keyed by fingerprints
// (which differ), the fold must still write the payload path's rows byte
// for byte, at each batch size, not merge a later summary onto the
// second object.
func TestEmbeddedRepeatKeysJSONBEqualObjects(t *testing.T) {
	t.Parallel()
	events := jsonbEqualEvents(t)
	src := setup(t)
	src.append(t, events...)
	if c, p := src.embeddedKeys(t); c < 8 || p < 8 {
		t.Fatalf("%d, %d events have fingerprints: the test compares nothing", c, p)
	}
	for _, batch := range []int{1, 2, 3, 100} {
		t.Run(fmt.Sprint("batch=", batch), func(t *testing.T) {
			t.Parallel()
			want := setup(t)
			want.copyRefs(t, src, refsBefore025)
			want.drain(t, batch)
			got := setup(t)
			got.copyRefs(t, src, refsAsBuilt)
			got.drain(t, batch)
			for _, table := range []string{"customers_history", "plans_history"} {
				sameRowsText(t, table, got.visibleVersionsText(t, table), want.visibleVersionsText(t, table))
			}
		})
	}
}
