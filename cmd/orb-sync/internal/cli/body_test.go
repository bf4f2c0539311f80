package cli

import (
	"context"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestBodyPrintsTheExactBytes: `orb-sync body` gives back, byte for byte,
// a body the log stores compressed (key order, spacing and duplicate keys
// that jsonb would lose included).
func TestBodyPrintsTheExactBytes(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	body := []byte("{ \"type\":\"customer.edited\",\n \"id\":\"evt_body\", \"created_at\":\"2025-01-08T08:19:20Z\", \"k\":1, \"k\":2 }")
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendBatch(context.Background(), []eventlog.Event{{Envelope: env, Body: body}}); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name}
	code, stdout, stderr := runCLI(t, vars, "body", "evt_body")
	if code != 0 || stdout != string(body) {
		t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, vars, "body", "evt_missing"); code == 0 {
		t.Errorf("a missing event exited 0: %s", stderr)
	}
}
