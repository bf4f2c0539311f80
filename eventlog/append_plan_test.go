package eventlog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestAppendPlansNeverScanTheLog: the append runs with the session's
// plan cache (no force_custom_plan), so PostgreSQL may reuse a generic
// plan of append_events' statements made while the log was empty. Even
// forced generic, the duplicate check must find stored ids through the
// event_id index, never by scanning events, both on an empty log and on
// a grown one. The plans are read with auto_explain, sent back as notices.
func TestAppendPlansNeverScanTheLog(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	var mu sync.Mutex
	var plans []string
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // one session: the settings below and the plan cache
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		plans = append(plans, n.Message)
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, q := range []string{
		"load 'auto_explain'",
		"set auto_explain.log_min_duration = 0",
		"set auto_explain.log_nested_statements = on",
		"set auto_explain.log_level = notice",
		"set plan_cache_mode = force_generic_plan",
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	a, err := NewAppender(pool, AppenderConfig{Schema: s.Name, WriteTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	appendN := func(from, n int) {
		t.Helper()
		events := make([]Event, n)
		for i := range events {
			id := fmt.Sprintf("evt_plan_%d", from+i)
			env, err := ParseEnvelope(eventBody(id, "customer.edited"))
			if err != nil {
				t.Fatal(err)
			}
			events[i] = Event{Envelope: env, Body: eventBody(id, "customer.edited")}
		}
		if _, err := a.AppendBatch(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		var dupCheck bool
		for _, p := range plans {
			if strings.Contains(p, "Seq Scan on events") {
				t.Errorf("%s, a plan scans the log:\n%.1500s", when, p)
			}
			dupCheck = dupCheck || strings.Contains(p, "events_event_id_key")
		}
		if !dupCheck {
			t.Errorf("%s, no plan of the duplicate check among %d notices: the test checks nothing", when, len(plans))
		}
		plans = nil
	}
	for i := range 8 { // past the plan cache's five custom plans
		appendN(i, 1)
	}
	check("on an empty log")
	appendN(100, 2000)
	mu.Lock()
	plans = nil // Planned for 2,000 ids: a scan may well be cheaper.
	mu.Unlock()
	for i := range 8 {
		appendN(5000+i, 1)
	}
	check("on a grown log")
}
