package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

const testSigningSecret = "whsec_cli_test"

// appendSigned appends n customer webhooks signed with testSigningSecret,
// as the receiver stores them.
func appendSigned(t *testing.T, s *pgtest.Schema, n int) {
	t.Helper()
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Stop()
	var events []eventlog.Event
	for i := range n {
		body := fmt.Appendf(nil, "{\n  \"id\": \"evt_signed_%d\",\n  \"type\": \"customer.edited\",\n  \"created_at\": \"2025-02-0%dT10:00:00+00:00\",\n"+
			"  \"customer\": {\"id\": \"cus_signed\", \"name\": \"name %d\", \"balance\": \"%d.00\"}\n}", i, i%9+1, i, i)
		env, err := eventlog.ParseEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		stamp := webhook.FormatTimestamp(time.Date(2025, 2, 1, 10, 0, i, 0, time.UTC))
		events = append(events, eventlog.Event{Envelope: env, Source: eventlog.SourceWebhook, Body: body,
			OrbTimestamp: stamp, OrbSignature: "v1=" + eventlog.Sign(testSigningSecret, stamp, body)})
	}
	if _, err := a.AppendBatch(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// appendPlain appends one event the way orb-sync stored bodies before
// migration 007: raw in events.body, no frame.
func appendPlain(t *testing.T, s *pgtest.Schema) {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var seq int64
	if err := tx.QueryRow(ctx, "update "+pgx.Identifier{s.Name, "log_head"}.Sanitize()+" set seq = seq + 1 returning seq").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	body := "{\"id\": \"evt_plain\", \"type\": \"customer.edited\",  \"created_at\": \"2025-02-10T10:00:00+00:00\",\n" +
		"\"customer\": {\"id\": \"cus_plain\", \"name\": \"stored before 007\", \"balance\": \"1.00\"}}"
	if _, err := tx.Exec(ctx, "insert into "+pgx.Identifier{s.Name, "events"}.Sanitize()+` (seq, event_id, type, created_at,
  resource_type, resource_id, body, payload) values ($1, 'evt_plain', 'customer.edited', '2025-02-10T10:00:00Z', 'customer',
  'cus_plain', $2, $3)`, seq, []byte(body), body); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExportImportRoundTrip exports a log in both formats (stored frames,
// the default, and plain bodies, the format every earlier orb-sync wrote),
// imports each into a new schema, and finds the log identical byte for
// byte and every table and history identical row for row; importing again
// is refused. A file with a damaged frame imports nothing. Then a copy
// whose file was tampered with fails verify-signatures.
func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	src := pgtest.NewSchema(t)
	fillLogForTest(t, src, 300, 20)
	appendSigned(t, src, 12)
	appendPlain(t, src)
	env := map[string]string{"DATABASE_URL": src.URL, "DATABASE_SCHEMA": src.Name, "LOG_FORMAT": "text",
		"ORB_WEBHOOK_SECRET": testSigningSecret}
	if code, stdout, stderr := runCLI(t, env, "reproject", "--all"); code != 0 {
		t.Fatalf("reproject: %d\n%s\n%s", code, stdout, stderr)
	}
	files := map[string]string{}
	for _, c := range []struct {
		name    string
		args    []string
		version string
	}{
		{"frames", nil, `"version":2`},
		{"plain", []string{"--plain-bodies"}, `"version":1`},
	} {
		code, file, stderr := runCLI(t, env, append([]string{"export"}, c.args...)...)
		if code != 0 || !strings.Contains(stderr, "exported 313 events") {
			t.Fatalf("export %s: %d\n%s", c.name, code, stderr)
		}
		if header, _, _ := strings.Cut(file, "\n"); !strings.Contains(header, c.version) {
			t.Fatalf("export %s: header %s, want %s", c.name, header, c.version)
		}
		path := filepath.Join(t.TempDir(), c.name+".ndjson")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		files[c.name] = file

		dst := pgtest.NewSchema(t)
		denv := map[string]string{"DATABASE_URL": dst.URL, "DATABASE_SCHEMA": dst.Name, "LOG_FORMAT": "text"}
		if code, stdout, stderr := runCLI(t, denv, "import", path); code != 0 || !strings.Contains(stdout, "imported 313 events") {
			t.Fatalf("import %s: %d\n%s\n%s", c.name, code, stdout, stderr)
		}
		sameLog(t, src, dst)
		for _, p := range projector.Projections() {
			sameTable(t, src, dst, p.Table)
		}
		if code, _, stderr := runCLI(t, denv, "import", path); code != 2 || !strings.Contains(stderr, "not empty") {
			t.Errorf("second import of %s: %d %s", c.name, code, stderr)
		}
	}
	if len(files["frames"])*4 > len(files["plain"]) {
		t.Errorf("the file of frames is %d bytes, the plain one %d: frames should be a fraction", len(files["frames"]), len(files["plain"]))
	}

	// One damaged frame: the import says where, and imports nothing.
	lines := strings.Split(files["frames"], "\n")
	damaged := 0
	for i, l := range lines {
		if strings.Contains(l, `"event_id":"evt_signed_5"`) {
			head, rest, _ := strings.Cut(l, `"body_zstd":"`)
			enc, _, _ := strings.Cut(rest, `"`)
			frame, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatal(err)
			}
			frame[len(frame)/2] ^= 0x01
			lines[i] = head + `"body_zstd":"` + base64.StdEncoding.EncodeToString(frame) + `"}`
			damaged++
		}
	}
	if damaged != 1 {
		t.Fatalf("damaged %d lines", damaged)
	}
	broken := filepath.Join(t.TempDir(), "damaged.ndjson")
	if err := os.WriteFile(broken, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := pgtest.NewSchema(t)
	denv := map[string]string{"DATABASE_URL": dst.URL, "DATABASE_SCHEMA": dst.Name, "LOG_FORMAT": "text"}
	code, stdout, stderr := runCLI(t, denv, "import", broken)
	if code != 1 || !strings.Contains(stderr, `nothing imported: line `) || !strings.Contains(stderr, `(event "evt_signed_5"): damaged body`) ||
		strings.Contains(stdout, "imported") {
		t.Fatalf("import of a damaged frame: %d\n%s\n%s", code, stdout, stderr)
	}
	var events, head int64
	if err := dst.Pool.QueryRow(context.Background(), "select (select count(*) from "+pgx.Identifier{dst.Name, "events"}.Sanitize()+
		"), (select seq from "+pgx.Identifier{dst.Name, "log_head"}.Sanitize()+")").Scan(&events, &head); err != nil || events != 0 || head != 0 {
		t.Fatalf("after the damaged import: %d events, head %d (%v)", events, head, err)
	}

	// The signed events check out; loadgen's and the plain one were stored
	// without headers.
	code, stdout, stderr = runCLI(t, env, "audit", "verify-signatures")
	if code != auditFailedExit || !strings.Contains(stderr, "12 valid, 0 mismatch, 301 webhooks without signature") ||
		strings.Count(stdout, "NO-SIGNATURE") != 301 {
		t.Fatalf("verify-signatures: %d\n%.500s\n%s", code, stdout, stderr)
	}

	// Tamper with one signed body in the plain file, load it as a copy:
	// caught.
	lines = strings.Split(files["plain"], "\n")
	tampered := 0
	for i, l := range lines {
		if strings.Contains(l, `"event_id":"evt_signed_3"`) {
			head, rest, _ := strings.Cut(l, `"body":"`)
			enc, _, _ := strings.Cut(rest, `"`)
			body, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				t.Fatal(err)
			}
			body = []byte(strings.Replace(string(body), `"name 3"`, `"name X"`, 1))
			lines[i] = head + `"body":"` + base64.StdEncoding.EncodeToString(body) + `"}`
			tampered++
		}
	}
	if tampered != 1 {
		t.Fatalf("tampered %d lines", tampered)
	}
	bad := filepath.Join(t.TempDir(), "tampered.ndjson")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := pgtest.NewSchema(t)
	cenv := map[string]string{"DATABASE_URL": cp.URL, "DATABASE_SCHEMA": cp.Name, "LOG_FORMAT": "text",
		"ORB_WEBHOOK_SECRET": "wrong, " + testSigningSecret}
	if code, stdout, stderr := runCLI(t, cenv, "import", bad); code != 0 {
		t.Fatalf("import of the tampered copy: %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, cenv, "audit", "verify-signatures")
	if code != auditFailedExit || !strings.Contains(stdout, "MISMATCH") || !strings.Contains(stdout, "evt_signed_3") ||
		!strings.Contains(stderr, "11 valid, 1 mismatch") {
		t.Fatalf("verify-signatures on the tampered copy: %d\n%.300s\n%s", code, stdout, stderr)
	}
}

// sameLog compares every column of both logs (refs too: import builds
// them as the appender does), bodies byte for byte (as
// eventlog.DecodeBody reads them: raw or compressed by the appender).
func sameLog(t *testing.T, a, b *pgtest.Schema) {
	t.Helper()
	dump := func(s *pgtest.Schema) []string {
		rows, err := s.Pool.Query(context.Background(), `select row(seq, event_id, type, created_at, received_at, source,
  resource_type, resource_id, payload, orb_timestamp, orb_signature, refs)::text, `+eventlog.BodyColumns+` from `+
			pgx.Identifier{s.Name, "events"}.Sanitize()+` order by seq`)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for rows.Next() {
			var cols string
			var raw, compressed []byte
			if err := rows.Scan(&cols, &raw, &compressed); err != nil {
				t.Fatal(err)
			}
			body, err := eventlog.DecodeBody(raw, compressed)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cols+" "+string(body))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		var head int64
		if err := s.Pool.QueryRow(context.Background(), "select seq from "+pgx.Identifier{s.Name, "log_head"}.Sanitize()).Scan(&head); err != nil {
			t.Fatal(err)
		}
		return append(out, fmt.Sprint("head ", head))
	}
	x, y := dump(a), dump(b)
	if len(x) < 2 || len(x) != len(y) {
		t.Fatalf("logs differ: %d and %d lines", len(x), len(y))
	}
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("logs differ at line %d:\n%.300s\n%.300s", i, x[i], y[i])
		}
	}
}

// sameTable fails unless table has the same rows in both schemas.
func sameTable(t *testing.T, a, b *pgtest.Schema, table string) {
	t.Helper()
	var onlyA, onlyB, rows int
	err := a.Pool.QueryRow(context.Background(), fmt.Sprintf(`select
  (select count(*) from (select to_jsonb(x) from %[1]s x except all select to_jsonb(y) from %[2]s y) d),
  (select count(*) from (select to_jsonb(y) from %[2]s y except all select to_jsonb(x) from %[1]s x) d),
  (select count(*) from %[1]s)`, pgx.Identifier{a.Name, table}.Sanitize(), pgx.Identifier{b.Name, table}.Sanitize())).
		Scan(&onlyA, &onlyB, &rows)
	if err != nil {
		t.Fatal(err)
	}
	if onlyA != 0 || onlyB != 0 {
		t.Errorf("%s: %d rows only in the source, %d only in the import (of %d)", table, onlyA, onlyB, rows)
	}
}
