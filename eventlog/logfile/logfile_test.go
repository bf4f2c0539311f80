package logfile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestRecordLineDecodes: the hand-written encoder writes what
// encoding/json reads back, field for field, for awkward values.
func TestRecordLineDecodes(t *testing.T) {
	t.Parallel()
	rt, sig := "customer", "v1=ab\"cd"
	in := Record{Seq: 42, EventID: "evt_\u2028\"x\\", Type: "customer.edited",
		CreatedAt: time.Date(2025, 1, 8, 8, 19, 20, 763280000, time.UTC), ReceivedAt: time.Date(2025, 1, 8, 8, 19, 21, 1000, time.UTC),
		Source: "webhook", ResourceType: &rt, OrbSignature: &sig, Body: []byte("{\n  \"id\": \"x\",\r\n \"é\": \"\\u0000\"\n}")}
	line := appendRecord(nil, &in)
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("not one line: %q", line)
	}
	var out Record
	if err := json.Unmarshal(line, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Body, in.Body) || out.EventID != in.EventID || *out.OrbSignature != sig || out.ResourceID != nil ||
		!out.CreatedAt.Equal(in.CreatedAt) || !out.ReceivedAt.Equal(in.ReceivedAt) || out.Seq != 42 {
		t.Errorf("round trip: %+v", out)
	}
}

// TestImportRefusesBadFiles: nothing is imported from a file that is not
// an export, or whose positions go backwards, or into a log with events.
func TestImportRefusesBadFiles(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	header := `{"format":"orb-sync-log","version":1,"schema":"orb","exported_at":"2025-01-01T00:00:00Z"}` + "\n"
	line := func(seq int, id string) string {
		return `{"seq":` + string(rune('0'+seq)) + `,"event_id":"` + id + `","type":"customer.edited","created_at":"2025-01-08T08:19:20Z",` +
			`"received_at":"2025-01-08T08:19:21Z","source":"webhook","resource_type":null,"resource_id":null,"orb_timestamp":null,` +
			`"orb_signature":null,"body":"eyJpZCI6ImUifQ=="}` + "\n"
	}
	for _, c := range []struct{ name, file, want string }{
		{"not an export", `{"id":"evt_1"}` + "\n", "not an orb-sync-log header"},
		{"newer format", `{"format":"orb-sync-log","version":2}` + "\n", "format version 2"},
		{"positions go backwards", header + line(2, "a") + line(1, "b"), "line 3 (event \"b\"): position 1 does not follow 2"},
		{"broken line", header + line(1, "a") + "{\n", "line 3"},
	} {
		_, err := Import(ctx, s.Pool, strings.NewReader(c.file), ImportConfig{Schema: s.Name})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	var n int
	if err := s.Pool.QueryRow(ctx, "select count(*) from "+pgx.Identifier{s.Name, "events"}.Sanitize()).Scan(&n); err != nil || n != 0 {
		t.Fatalf("events after refused imports: %d (%v)", n, err)
	}
	if _, err := Import(ctx, s.Pool, strings.NewReader(header+line(1, "a")+line(3, "c")), ImportConfig{Schema: s.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, s.Pool, strings.NewReader(header+line(4, "d")), ImportConfig{Schema: s.Name}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("import into a log with events: %v", err)
	}
	var head int64
	if err := s.Pool.QueryRow(ctx, "select seq from "+pgx.Identifier{s.Name, "log_head"}.Sanitize()).Scan(&head); err != nil || head != 3 {
		t.Errorf("log head %d (%v), want 3", head, err)
	}
}
