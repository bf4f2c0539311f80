package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

var t0 = time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)

// apiEnv is the environment of a command reading the fake API into s.
func apiEnv(s *pgtest.Schema, srv *orbapitest.Server) map[string]string {
	return map[string]string{
		"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name, "ORB_API_KEY": srv.APIKey, "ORB_BASE_URL": srv.URL,
		"ORB_API_RATE_LIMIT": "1000", "LOG_FORMAT": "text",
	}
}

func putObjects(srv *orbapitest.Server, collection, prefix string, n int) {
	for i := range n {
		srv.Put(collection, orbapitest.Object(fmt.Sprintf("%s_%03d", prefix, i), t0.Add(time.Duration(i)*time.Second), nil))
	}
}

func TestBackfillCommand(t *testing.T) {
	t.Parallel()
	s, srv := pgtest.NewSchema(t), orbapitest.New(t)
	putObjects(srv, "customers", "cus", 250)
	putObjects(srv, "coupons", "coupon", 3)
	env := apiEnv(s, srv)
	env["ORB_API_PAGE_SIZE"] = "50"

	code, stdout, stderr := runCLI(t, env, "backfill", "customers", "coupon")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"customers", "done", "250", "coupons", "This run fetched 253 objects"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, `msg="backfill finished" entity=customers`) {
		t.Errorf("no structured progress in the logs:\n%s", stderr)
	}

	code, stdout, _ = runCLI(t, env, "backfill", "--status")
	if code != 0 || !strings.Contains(stdout, "customers") || !strings.Contains(stdout, "done") {
		t.Fatalf("--status: exit %d\n%s", code, stdout)
	}
	// Run again: continues from the complete run, reports what is new.
	srv.Put("customers", orbapitest.Object("cus_new", time.Now(), nil))
	code, stdout, _ = runCLI(t, env, "backfill", "customers")
	if code != 0 || !strings.Contains(stdout, "customers: continued the complete backfill from ") ||
		!strings.Contains(stdout, ": 1 new or changed") {
		t.Fatalf("second run: exit %d\n%s", code, stdout)
	}
	// Run again with a wrong key: it asks the API, so it fails.
	env["ORB_API_KEY"] = "orb_wrong_key_for_the_rerun"
	code, stdout, stderr = runCLI(t, env, "backfill", "customers")
	if code != 1 || !strings.Contains(stderr, "rejected the API key (401)") {
		t.Fatalf("re-run with a wrong key: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestBackfillCommandRejectedKey(t *testing.T) {
	t.Parallel()
	s, srv := pgtest.NewSchema(t), orbapitest.New(t)
	env := apiEnv(s, srv)
	env["ORB_API_KEY"] = "orb_live_do_not_print_me"
	code, stdout, stderr := runCLI(t, env, "backfill")
	if code != 1 || !strings.Contains(stderr, "orb api rejected the API key (401): check ORB_API_KEY") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout+stderr, "do_not_print_me") {
		t.Fatal("the API key leaked")
	}
}

func TestBackfillCommandSettings(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db", "ORB_API_KEY": "k"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     string
	}{
		{"unknown entity", base, []string{"widgets"}, 2, `unknown entity "widgets"`},
		{"bad since", base, []string{"--since", "yesterday"}, 2, "--since"},
		{"no key", with("ORB_API_KEY", ""), nil, 1, "ORB_API_KEY is not set"},
		{"bad rate", with("ORB_API_RATE_LIMIT", "fast"), nil, 1, `ORB_API_RATE_LIMIT="fast" is not a number`},
		{"zero rate", with("ORB_API_RATE_LIMIT", "0"), nil, 1, "ORB_API_RATE_LIMIT=0 must be above 0"},
		{"page size", with("ORB_API_PAGE_SIZE", "500"), nil, 1, "ORB_API_PAGE_SIZE=500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, tt.env, append([]string{"backfill"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d naming %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
}

func TestRepairCommand(t *testing.T) {
	t.Parallel()
	s, srv := pgtest.NewSchema(t), orbapitest.New(t)
	for i := range 5 {
		id := fmt.Sprintf("evt_%d", i)
		at := t0.Add(time.Duration(i) * time.Minute)
		body := fmt.Appendf(nil, `{"id":%q,"type":"customer.created","created_at":%q,"customer":{"id":"cus_%d"},"properties":{}}`,
			id, orbapitest.Timestamp(at), i)
		srv.Put("webhook_events", orbapitest.WebhookEvent(id, "customer.created", at, i%2 == 0, body))
	}
	code, stdout, stderr := runCLI(t, apiEnv(s, srv), "repair", "--since", "2025-01-08", "--undelivered-only")
	if code != 0 || !strings.Contains(stdout, "listed 2 webhook events: 2 recovered, 0 already in the log, 0 errors") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, apiEnv(s, srv), "repair")
	if code != 2 || !strings.Contains(stderr, "--since is required") {
		t.Fatalf("without --since: exit %d, %s", code, stderr)
	}
}

func TestProgressBarLine(t *testing.T) {
	t.Parallel()
	p := &progressBar{names: []string{"customers", "invoices", "plans", "items"}, states: map[string]orbsync.EntityResult{}, begin: time.Now()}
	p.update(orbsync.EntityResult{Entity: "plans", Status: orbsync.StatusDone})
	p.update(orbsync.EntityResult{Entity: "customers", Status: orbsync.StatusRunning, Progress: orbsync.Progress{Fetched: 1200}})
	if got := p.line(); got != "[#####---------------] 1/4 entities · customers 1200" {
		t.Fatalf("line %q", got)
	}
}
