package webhook

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestCheckStoredSignatures stores webhooks through the real receiver
// (signed with the current and a former secret), a snapshot and a webhook
// without headers; then re-checks them, and catches a body tampered with in
// a copy of the log (the log itself refuses updates).
func TestCheckStoredSignatures(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	for i, secret := range []string{testSecret, testSecret, "older-secret"} {
		if code, body := b.post(t, eventBody(fmt.Sprintf("evt_%d", i), "customer.edited"), secret, b.now); code != 200 {
			t.Fatalf("post %d: %d %s", i, code, body)
		}
	}
	snap := []byte(`{"id":"snap_1","type":"snapshot.customer","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_s"}}`)
	bare := []byte(`{"id":"evt_bare","type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_b"}}`)
	var events []eventlog.Event
	for _, e := range []struct {
		body   []byte
		source string
	}{{snap, eventlog.SourceSnapshot}, {bare, eventlog.SourceWebhook}} {
		env, err := eventlog.ParseEnvelope(e.body)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, eventlog.Event{Envelope: env, Source: e.source, Body: e.body})
	}
	if _, err := b.appender.AppendBatch(ctx, events); err != nil {
		t.Fatal(err)
	}

	check := func(schema string, secrets ...string) (StoredSummary, map[string]string) {
		t.Helper()
		outcomes := map[string]string{}
		sum, err := CheckStored(ctx, b.schema.Pool, CheckStoredConfig{Schema: schema, Secrets: secrets,
			OnEvent: func(c StoredCheck) { outcomes[c.EventID] = c.Outcome }})
		if err != nil {
			t.Fatal(err)
		}
		return sum, outcomes
	}
	sum, got := check(b.schema.Name, testSecret, "older-secret")
	want := map[string]string{"evt_0": StoredValid, "evt_1": StoredValid, "evt_2": StoredValid,
		"snap_1": StoredUnsigned, "evt_bare": StoredNoSignature}
	if fmt.Sprint(got) != fmt.Sprint(want) || sum.Checked != 5 {
		t.Fatalf("outcomes = %v (%+v), want %v", got, sum, want)
	}
	if _, got = check(b.schema.Name, testSecret); got["evt_2"] != StoredMismatch {
		t.Errorf("evt_2, signed with a secret not given: %s", got["evt_2"])
	}
	// No timestamp tolerance: an event signed a day ago still checks.
	old := eventBody("evt_old", "customer.edited")
	env, err := eventlog.ParseEnvelope(old)
	if err != nil {
		t.Fatal(err)
	}
	stamp := FormatTimestamp(b.now.Add(-24 * time.Hour))
	if _, err := b.appender.AppendBatch(ctx, []eventlog.Event{{Envelope: env, Source: eventlog.SourceWebhook, Body: old,
		OrbTimestamp: stamp, OrbSignature: "v1=" + eventlog.Sign(testSecret, stamp, old)}}); err != nil {
		t.Fatal(err)
	}
	if _, got = check(b.schema.Name, testSecret); got["evt_old"] != StoredValid {
		t.Errorf("evt_old, signed a day ago: %s", got["evt_old"])
	}

	// A copy of the log (the log itself refuses updates) with one body
	// changed by a single character, stored raw as an older row would be,
	// and one compressed body corrupted.
	copied := pgtest.NewSchema(t)
	cols := "seq, event_id, type, created_at, received_at, source, resource_type, resource_id, " + eventlog.BodyColumns +
		", payload, orb_timestamp, orb_signature"
	src, dst := pgx.Identifier{b.schema.Name, "events"}.Sanitize(), pgx.Identifier{copied.Name, "events"}.Sanitize()
	_, err = b.schema.Pool.Exec(ctx, fmt.Sprintf(`insert into %s (%s) select %s from %s where event_id not in ('evt_1', 'evt_old')`,
		dst, cols, cols, src))
	if err != nil {
		t.Fatal(err)
	}
	var raw, compressed []byte
	if err := b.schema.Pool.QueryRow(ctx, "select "+eventlog.BodyColumns+" from "+src+" where event_id = 'evt_1'").
		Scan(&raw, &compressed); err != nil {
		t.Fatal(err)
	}
	body, err := eventlog.DecodeBody(raw, compressed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte(`"A"`), []byte(`"B"`), 1)
	corrupt := []byte("\x28\xb5\x2f\xfd not a frame")
	for _, c := range []struct {
		id   string
		raw  []byte
		zstd []byte
	}{{"evt_1", tampered, nil}, {"evt_old", nil, corrupt}} {
		_, err = b.schema.Pool.Exec(ctx, fmt.Sprintf(`insert into %s (%s) select seq, event_id, type, created_at, received_at, source,
  resource_type, resource_id, $2, $3, payload, orb_timestamp, orb_signature from %s where event_id = $1`, dst, cols, src), c.id, c.raw, c.zstd)
		if err != nil {
			t.Fatal(err)
		}
	}
	sum, got = check(copied.Name, testSecret, "older-secret")
	if got["evt_1"] != StoredMismatch || got["evt_old"] != StoredMismatch || got["evt_0"] != StoredValid ||
		sum.Outcomes[StoredMismatch] != 2 {
		t.Errorf("tampered copy: %v", got)
	}
}
