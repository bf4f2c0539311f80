package console

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console/consoletest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkPages measures each page's server time on a large log: the
// reference mix (customer, subscription ~36 KB, invoice events) about
// ORB_BENCH_ENTITIES entities per kind (default 1,000), ORB_BENCH_EVENTS
// events (default 30,000; the README's figure uses 1,000,000), plus the
// console fixture. Every subscription embeds the same plan.
//
//	ORB_BENCH_EVENTS=1000000 go test -run '^$' -bench Pages -benchtime 20x -count 3 -timeout 90m ./projector/console/
//
// Building a 1,000,000-event log and its tables takes longer than the
// measurement: with ORB_BENCH_KEEP=<schema> the first run builds it into
// that schema and keeps it, and later runs measure on it (drop the schema
// to start over).
func BenchmarkPages(b *testing.B) {
	events := envInt(b, "ORB_BENCH_EVENTS", 30000)
	entities := envInt(b, "ORB_BENCH_ENTITIES", 1000)
	ctx := context.Background()
	s := benchSchema(b, events, entities)
	c, err := New(b.Context(), Config{Pool: s.Pool, Schema: s.Name, Token: testToken, Secrets: []string{consoletest.Secret}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	// An event from the middle of the log, and its time for the as-of page.
	var someEvent, middle string
	err = s.Pool.QueryRow(ctx, "select event_id, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') from "+s.Name+".events where seq = $1",
		events/2).Scan(&someEvent, &middle)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []struct{ name, path string }{
		{"search", "/console/search?q=cus_1"},
		{"search-email", "/console/search?q=ADA%40newmail.example"},
		{"customer", "/console/customer/cus_1"},
		{"customer-as-of", "/console/customer/cus_1?as_of=" + middle},
		{"subscription", "/console/subscription/sub_1"},
		{"invoice", "/console/invoice/inv_1"},
		{"plan", "/console/plan/RcUsGzCpjfAxc2"},
		{"event", "/console/event/" + someEvent},
		{"pipeline", "/console/pipeline"},
	} {
		b.Run(p.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, p.path, nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			for b.Loop() {
				w := httptest.NewRecorder()
				c.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: status %d", p.path, w.Code)
				}
			}
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// benchSchema returns the schema to measure on: a new one, or with
// ORB_BENCH_KEEP the kept one, built on first use.
func benchSchema(b *testing.B, events, entities int) *pgtest.Schema {
	keep := os.Getenv("ORB_BENCH_KEEP")
	if keep == "" {
		s := pgtest.NewSchema(b)
		buildBenchLog(b, s, events, entities)
		return s
	}
	what := fmt.Sprintf("console bench: %d events, %d entities per kind", events, entities)
	return pgtest.KeptSchema(b, keep, what, func(s *pgtest.Schema) { buildBenchLog(b, s, events, entities) })
}

// buildBenchLog fills the log with the mix and the console fixture and
// rebuilds the tables the pages read (the mix has no events for the
// others).
func buildBenchLog(b *testing.B, s *pgtest.Schema, events, entities int) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	start := time.Now()
	if err := webhooktest.Copy(ctx, s.Pool, s.Name, events, entities, consoletest.Secret); err != nil {
		b.Fatal(err)
	}
	appendEvents(b, s, logger, consoletest.Events())
	rebuilder, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	filled := time.Now()
	if _, err := rebuilder.Rebuild(ctx, "customers", "customers_history", "subscriptions", "subscriptions_history", "invoices",
		"invoices_history", "credit_notes", "credit_notes_history", "plans", "plans_history", "customer_balance_transactions"); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d events in %s, rebuilt in %s", events, filled.Sub(start).Round(time.Millisecond), time.Since(filled).Round(time.Millisecond))
	for _, table := range []string{"events", "customers_history", "subscriptions_history", "invoices_history", "plans_history"} {
		if _, err := s.Pool.Exec(ctx, "analyze "+pgx.Identifier{s.Name, table}.Sanitize()); err != nil {
			b.Fatal(err)
		}
	}
}
