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

	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
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

// TestExportInOrderAndStopsOnWriteError: batches encoded in parallel come
// out in log order, and a failing writer ends the export with its error,
// leaving no goroutine behind (TestMain checks).
func TestExportInOrderAndStopsOnWriteError(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	const n = 700 // several batches
	if err := webhooktest.Copy(ctx, s.Pool, s.Name, n, 50, "whsec_test"); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	p, err := Export(ctx, s.Pool, &file, ExportConfig{Schema: s.Name})
	if err != nil || p.Events != n || p.Total != n {
		t.Fatalf("exported %d of %d (total %d): %v", p.Events, n, p.Total, err)
	}
	lines := strings.Split(strings.TrimSuffix(file.String(), "\n"), "\n")[1:]
	for i, l := range lines {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Seq != int64(i+1) || len(r.Body) == 0 {
			t.Fatalf("line %d: position %d, %d body bytes, %v", i+2, r.Seq, len(r.Body), err)
		}
	}
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	broken := &failingWriter{left: 200 << 10}
	if _, err := Export(ctx, s.Pool, broken, ExportConfig{Schema: s.Name}); !errors.Is(err, errDiskFull) {
		t.Fatalf("export into a failing writer: %v", err)
	}
}

var errDiskFull = errors.New("disk full")

// failingWriter accepts left bytes, then fails.
type failingWriter struct{ left int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(b) > w.left {
		return 0, errDiskFull
	}
	w.left -= len(b)
	return len(b), nil
}
