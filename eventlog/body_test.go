package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestBodiesComeBackByteExact appends bodies whose bytes jsonb would not
// keep (key order, whitespace, duplicate keys, escapes, number spellings)
// through both append paths, and reads every one back exactly.
func TestBodiesComeBackByteExact(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	bodies := map[string][]byte{
		"evt_order":  []byte(`{"type":"customer.edited","id":"evt_order","created_at":"2025-01-08T08:19:20Z","customer":{"z":1,"a":2}}`),
		"evt_space":  []byte("{\n\t\"id\" : \"evt_space\",   \"type\":\"x.y\", \"created_at\":\"2025-01-08T08:19:20Z\"  }\r\n"),
		"evt_dup":    []byte(`{"id":"evt_dup","type":"x.y","created_at":"2025-01-08T08:19:20Z","k":1,"k":2}`),
		"evt_escape": []byte(`{"id":"evt_escape","type":"x.y","created_at":"2025-01-08T08:19:20Z","s":"\u00e9\ud83d\ude00 é","n":1.50e+3}`),
		"evt_large":  append([]byte(`{"id":"evt_large","type":"x.y","created_at":"2025-01-08T08:19:20Z","pad":"`), append(bytes.Repeat([]byte("0123456789abcdef"), 40000), `"}`...)...),
	}
	var batch []Event
	for id, body := range bodies {
		env, err := ParseEnvelope(body)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if id == "evt_order" { // The group-commit path.
			if _, err := b.appender.Append(ctx, Event{Envelope: env, Body: body}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		batch = append(batch, Event{Envelope: env, Body: body})
	}
	if _, err := b.appender.AppendBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for id, want := range bodies {
		got := storedBody(t, b, id)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: stored body differs (%d bytes back, %d sent)", id, len(got), len(want))
		}
	}
	// And the bytes are not kept twice: the compressed copy only.
	var raw, compressedBytes, n int64
	err := b.schema.Pool.QueryRow(ctx, "select count(body), coalesce(sum(octet_length(body_zstd)), 0), count(*) from "+
		pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&raw, &compressedBytes, &n)
	if err != nil {
		t.Fatal(err)
	}
	if raw != 0 || compressedBytes == 0 || compressedBytes > int64(len(bodies["evt_large"]))/10 {
		t.Errorf("%d raw bodies, %d compressed bytes for %d events", raw, compressedBytes, n)
	}
}

// TestOldRowsKeepTheirRawBody: a row written before body_zstd existed (raw
// body) reads back as it is; a row with neither or a corrupt frame is an
// error, never wrong bytes.
func TestOldRowsKeepTheirRawBody(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	body := []byte(`{"id":"evt_old", "type":"customer.edited","created_at":"2025-01-08T08:19:20Z"}`)
	_, err := b.schema.Pool.Exec(ctx, "insert into "+pgx.Identifier{b.schema.Name, "events"}.Sanitize()+
		" (seq, event_id, type, created_at, body, payload) values (1, 'evt_old', 'customer.edited', now(), $1, $2::text::jsonb)", body, string(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := storedBody(t, b, "evt_old"); !bytes.Equal(got, body) {
		t.Errorf("old row's body = %q", got)
	}
	_, err = b.schema.Pool.Exec(ctx, "insert into "+pgx.Identifier{b.schema.Name, "events"}.Sanitize()+
		" (seq, event_id, type, created_at, payload) values (2, 'evt_none', 'x.y', now(), '{}')")
	if err == nil {
		t.Error("a row without any body was accepted")
	}
	if _, err := DecodeBody(nil, []byte("not a zstd frame")); err == nil {
		t.Error("a corrupt frame decoded")
	}
	if _, err := DecodeBody([]byte("{}"), []byte("x")); err == nil {
		t.Error("a row with both bodies decoded")
	}
}

func storedBody(t *testing.T, b *testBundle, eventID string) []byte {
	t.Helper()
	var raw, compressed []byte
	err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf("select %s from %s where event_id = $1",
		BodyColumns, pgx.Identifier{b.schema.Name, "events"}.Sanitize()), eventID).Scan(&raw, &compressed)
	if err != nil {
		t.Fatal(err)
	}
	body, err := DecodeBody(raw, compressed)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
