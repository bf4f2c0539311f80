package orbsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

// webhookHistory is n webhook bodies one second apart, as Orb would have
// sent them, and GET /webhook_events items for them; every third one was
// never delivered.
func webhookHistory(n int) (bodies map[string][]byte, items []json.RawMessage, dropped []string) {
	bodies = map[string][]byte{}
	for i := range n {
		id := fmt.Sprintf("evt_%04d", i)
		at := t0.Add(time.Duration(i) * time.Second)
		body := fmt.Appendf(nil, `{"id": %q, "type": "customer.edited", "created_at": %q, "customer": {"id": %q, "name": "n%d"},  "properties": {}}`,
			id, orbapitest.Timestamp(at), customerID(i%7), i)
		bodies[id] = body
		delivered := i%3 != 0
		if !delivered {
			dropped = append(dropped, id)
		}
		items = append(items, orbapitest.WebhookEvent(id, "customer.edited", at, delivered, body))
	}
	return bodies, items, dropped
}

// TestRepairFillsTheGap delivers two thirds of a history, drops the rest,
// and repairs: the log then holds exactly the union, each event once, the
// recovered ones with Orb's ids and payload bytes, and it equals the log of
// a run that lost nothing.
func TestRepairFillsTheGap(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 100})
	bodies, items, dropped := webhookHistory(300)
	b.srv.Put("webhook_events", items...)
	for id, body := range bodies {
		if !slices.Contains(dropped, id) {
			b.appendWebhook(t, body)
		}
	}

	rep, err := b.runner.Repair(context.Background(), RepairOptions{Since: t0})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Listed != 300 || rep.Recovered != int64(len(dropped)) || rep.Present != 200 || rep.Errors != 0 {
		t.Fatalf("report %+v; want 300 listed, %d recovered, 200 present", rep, len(dropped))
	}
	if !rep.Oldest.Equal(t0) || !strings.Contains(rep.String(), "100 recovered") {
		t.Errorf("report %s", rep)
	}
	if n := b.countEvents(t, ""); n != 300 {
		t.Fatalf("log holds %d events, want 300", n)
	}
	for _, id := range dropped {
		// The fake serves payloads compacted (encoding/json does that to a
		// RawMessage); the stored body must be exactly the bytes served.
		var served bytes.Buffer
		if err := json.Compact(&served, bodies[id]); err != nil {
			t.Fatal(err)
		}
		var raw, compressed []byte
		var source string
		var sig *string
		err := b.schema.Pool.QueryRow(context.Background(), "select "+eventlog.BodyColumns+", source, orb_signature from "+b.schema.Name+
			".events where event_id = $1", id).Scan(&raw, &compressed, &source, &sig)
		body, decodeErr := eventlog.DecodeBody(raw, compressed)
		err = errors.Join(err, decodeErr)
		if err != nil || source != "recovered" || sig != nil || !bytes.Equal(body, served.Bytes()) {
			t.Fatalf("%s: source %q, signature %v, body %s (%v)", id, source, sig, body, err)
		}
	}

	// Equal to a log that never lost anything, in the projections' order.
	ref := setup(t, testOpts{})
	for i := range 300 {
		ref.appendWebhook(t, bodies[fmt.Sprintf("evt_%04d", i)])
	}
	if got, want := b.logContent(t), ref.logContent(t); got != want {
		t.Fatalf("repaired log differs from an unbroken one:\n%s\nvs\n%s", got, want)
	}

	// Again: nothing new.
	rep, err = b.runner.Repair(context.Background(), RepairOptions{Since: t0})
	if err != nil || rep.Recovered != 0 || rep.Present != 300 {
		t.Fatalf("second repair: %+v, %v", rep, err)
	}
}

// logContent is the log as projections see it, minus positions and
// delivery details.
func (b *testBundle) logContent(t testing.TB) string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), "select event_id, type, created_at, resource_type, resource_id, payload::text from "+
		b.schema.Name+".events order by created_at, seq")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&out, vals...)
	}
	return out.String()
}

func TestRepairUndeliveredOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 20})
	_, items, dropped := webhookHistory(90)
	b.srv.Put("webhook_events", items...)
	// Events from before the window are left alone.
	since := t0.Add(30 * time.Second)
	rep, err := b.runner.Repair(context.Background(), RepairOptions{Since: since, UndeliveredOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Listed != 20 || rep.Recovered != 20 {
		t.Fatalf("report %+v; want the 20 undelivered events since +30s", rep)
	}
	for _, id := range dropped[:10] {
		if b.countEvents(t, "event_id = $1", id) != 0 {
			t.Fatalf("%s is older than since but was recovered", id)
		}
	}
	for _, r := range requestsTo(b.srv, "webhook_events") {
		if r.Query.Get("delivery_success") != "false" || r.Query.Get("created_at[gte]") != "2025-01-08T08:00:30Z" {
			t.Fatalf("page without the filters: %v", r.Query)
		}
	}
}

func TestRepairCountsUnusableItems(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	b.srv.Put("webhook_events",
		orbapitest.Object("evt_null", t0, map[string]any{"type": "customer.edited", "is_delivered": false, "payload": nil}),
		orbapitest.Object("evt_bad", t0, map[string]any{"type": "customer.edited", "is_delivered": false, "payload": map[string]any{"no": "envelope"}}),
		orbapitest.WebhookEvent("evt_ok", "customer.created", t0, false,
			json.RawMessage(`{"id":"evt_ok","type":"customer.created","created_at":"2025-01-08T08:00:00+00:00","customer":{"id":"c"},"properties":{}}`)),
	)
	rep, err := b.runner.Repair(context.Background(), RepairOptions{Since: t0})
	if err != nil || rep.Listed != 3 || rep.Recovered != 1 || rep.Errors != 2 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if !strings.Contains(b.logs.String(), "evt_null has no payload") {
		t.Errorf("unusable item not logged:\n%s", b.logs.String())
	}
}
