package logfile

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestRecordLineDecodes: the hand-written encoder writes what
// encoding/json reads back, field for field, for awkward values, with a
// plain body (version 1) or a stored frame (version 2).
func TestRecordLineDecodes(t *testing.T) {
	t.Parallel()
	rt, sig := "customer", "v1=ab\"cd"
	body := []byte("{\n  \"id\": \"x\",\r\n \"é\": \"\\u0000\"\n}")
	frame, err := eventlog.CompressBody(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name           string
		body, bodyZstd []byte
	}{
		{"plain", body, nil},
		{"frame", nil, frame},
	} {
		in := Record{Seq: 42, EventID: "evt_\u2028\"x\\", Type: "customer.edited<&>",
			CreatedAt: time.Date(2025, 1, 8, 8, 19, 20, 763280000, time.UTC), ReceivedAt: time.Date(2025, 1, 8, 8, 19, 21, 1000, time.UTC),
			Source: "webhook", ResourceType: &rt, OrbSignature: &sig, Body: c.body, BodyZstd: c.bodyZstd}
		line := appendRecord(nil, &in)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("%s: not one line: %q", c.name, line)
		}
		var out Record
		if err := json.Unmarshal(line, &out); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(out.Body, in.Body) || !bytes.Equal(out.BodyZstd, in.BodyZstd) || out.EventID != in.EventID ||
			out.Type != in.Type || *out.OrbSignature != sig || out.ResourceID != nil || *out.ResourceType != rt ||
			!out.CreatedAt.Equal(in.CreatedAt) || !out.ReceivedAt.Equal(in.ReceivedAt) || out.Seq != 42 {
			t.Errorf("%s: round trip: %+v", c.name, out)
		}
	}
}

// TestImportRefusesBadFiles: nothing is imported from a file that is not
// an export, or whose positions go backwards, or whose stored frame is
// damaged, or into a log with events.
func TestImportRefusesBadFiles(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	header := func(version int) string {
		return fmt.Sprintf(`{"format":"orb-sync-log","version":%d,"schema":"orb","exported_at":"2025-01-01T00:00:00Z"}`, version) + "\n"
	}
	frame, err := eventlog.CompressBody([]byte(`{"id":"e"}`))
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(frame)
	damaged[len(damaged)/2] ^= 0x20
	record := func(seq int, id, body string) string {
		return `{"seq":` + strconv.Itoa(seq) + `,"event_id":"` + id + `","type":"customer.edited","created_at":"2025-01-08T08:19:20Z",` +
			`"received_at":"2025-01-08T08:19:21Z","source":"webhook","resource_type":null,"resource_id":null,"orb_timestamp":null,` +
			`"orb_signature":null,` + body + `}` + "\n"
	}
	line := func(seq int, id string) string { return record(seq, id, `"body":"eyJpZCI6ImUifQ=="`) }
	framed := func(seq int, id string, frame []byte) string {
		return record(seq, id, `"body_zstd":"`+base64.StdEncoding.EncodeToString(frame)+`"`)
	}
	for _, c := range []struct{ name, file, want string }{
		{"not an export", `{"id":"evt_1"}` + "\n", "not an orb-sync-log header"},
		{"newer format", `{"format":"orb-sync-log","version":3}` + "\n", "format version 3"},
		{"positions go backwards", header(1) + line(2, "a") + line(1, "b"), "line 3 (event \"b\"): position 1 does not follow 2"},
		{"broken line", header(1) + line(1, "a") + "{\n", "line 3"},
		{"damaged frame", header(2) + framed(1, "a", frame) + framed(2, "b", damaged), "line 3 (event \"b\"): damaged body"},
		{"truncated frame", header(2) + framed(1, "a", frame[:len(frame)-3]), "line 2 (event \"a\"): damaged body"},
		{"frame in version 1", header(1) + framed(1, "a", frame), "line 2 (event \"a\"): body_zstd in a version 1 file"},
		{"two bodies", header(2) + record(1, "a", `"body":"eyJpZCI6ImUifQ==","body_zstd":"`+
			base64.StdEncoding.EncodeToString(frame)+`"`), "both body and body_zstd"},
		{"no body", header(2) + record(1, "a", `"body":""`), "line 2 (event \"a\"): no body"},
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
	// Both versions load; a version 2 file may mix frames and plain
	// bodies (rows stored before bodies were compressed).
	if _, err := Import(ctx, s.Pool, strings.NewReader(header(1)+line(1, "a")+line(3, "c")), ImportConfig{Schema: s.Name}); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, s.Pool, strings.NewReader(header(2)+line(4, "d")), ImportConfig{Schema: s.Name}); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("import into a log with events: %v", err)
	}
	var head int64
	if err := s.Pool.QueryRow(ctx, "select seq from "+pgx.Identifier{s.Name, "log_head"}.Sanitize()).Scan(&head); err != nil || head != 3 {
		t.Errorf("log head %d (%v), want 3", head, err)
	}
	s2 := pgtest.NewSchema(t)
	if _, err := Import(ctx, s2.Pool, strings.NewReader(header(2)+framed(1, "a", frame)+line(2, "b")), ImportConfig{Schema: s2.Name}); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := s2.Pool.QueryRow(ctx, "select body_zstd from "+pgx.Identifier{s2.Name, "events"}.Sanitize()+" where seq = 1").Scan(&stored); err != nil ||
		!bytes.Equal(stored, frame) {
		t.Errorf("stored frame %x (%v), want the file's %x", stored, err, frame)
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
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Seq != int64(i+1) || len(r.BodyZstd) == 0 || r.Body != nil {
			t.Fatalf("line %d: position %d, %d frame bytes, %d plain, %v", i+2, r.Seq, len(r.BodyZstd), len(r.Body), err)
		}
		if _, err := eventlog.DecodeBody(nil, r.BodyZstd); err != nil {
			t.Fatalf("line %d: %v", i+2, err)
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
