package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console/consoletest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkPages measures each page's server time on a large log: the
// reference mix (customer, subscription ~36 KB, invoice events) about
// ORB_BENCH_ENTITIES entities per kind (default 1,000), ORB_BENCH_EVENTS
// events (default 30,000; the README's figure uses 1,000,000), plus the
// console fixture. Every subscription embeds the same plan, so the plan
// page is the worst case: a third of the log is about it.
//
//	ORB_BENCH_EVENTS=1000000 go test -run '^$' -bench Pages -benchtime 20x -count 3 -timeout 60m ./projector/console/
func BenchmarkPages(b *testing.B) {
	events := envInt(b, "ORB_BENCH_EVENTS", 30000)
	entities := envInt(b, "ORB_BENCH_ENTITIES", 1000)
	s := pgtest.NewSchema(b)
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	start := time.Now()
	fillLog(b, s, events, entities)
	appendEvents(b, s, logger, consoletest.Events())
	rebuilder, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	filled := time.Now()
	// The tables the pages read; the mix has no events for the others.
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
	c, err := New(b.Context(), Config{Pool: s.Pool, Schema: s.Name, Token: testToken, Secrets: []string{consoletest.Secret}, Logger: logger})
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

// fillLog writes n events of the reference mix (webhooktest's generator,
// about entities resources per kind, signed with consoletest.Secret) into
// the log with COPY, as the appender would store them (zstd body, jsonb
// payload, signature headers): several times faster than appending, so a
// 1,000,000-event log takes minutes. Bodies are made and compressed on one
// goroutine while PostgreSQL parses the previous ones.
func fillLog(b *testing.B, s *pgtest.Schema, n, entities int) {
	b.Helper()
	gen, err := webhooktest.New(entities, 1)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const chunk = 20000 // rows per COPY, well inside the pool's statement_timeout
	rows := make(chan []any, 4096)
	genErr := make(chan error, 1)
	go func() {
		defer close(rows)
		stamp := webhook.FormatTimestamp(time.Now())
		for i := range n {
			_, _, body := gen.Next(webhooktest.Kinds[i%len(webhooktest.Kinds)])
			env, err := eventlog.ParseEnvelope(body)
			if err != nil {
				genErr <- err
				return
			}
			z, err := eventlog.CompressBody(body)
			if err != nil {
				genErr <- err
				return
			}
			rows <- []any{int64(i + 1), env.ID, env.Type, env.CreatedAt, "webhook", env.ResourceType, env.ResourceID,
				z, string(body), stamp, "v1=" + eventlog.Sign(consoletest.Secret, stamp, body)}
		}
	}()
	columns := []string{"seq", "event_id", "type", "created_at", "source", "resource_type", "resource_id",
		"body_zstd", "payload", "orb_timestamp", "orb_signature"}
	for copied := 0; copied < n; {
		left := min(chunk, n-copied)
		got, err := s.Pool.CopyFrom(ctx, pgx.Identifier{s.Name, "events"}, columns, pgx.CopyFromFunc(func() ([]any, error) {
			if left == 0 {
				return nil, nil
			}
			row, ok := <-rows
			if !ok {
				return nil, <-genErr
			}
			left--
			return row, nil
		}))
		if err != nil {
			b.Fatal(err)
		}
		copied += int(got)
	}
	if _, err := s.Pool.Exec(ctx, "update "+pgx.Identifier{s.Name, "log_head"}.Sanitize()+" set seq = $1", n); err != nil {
		b.Fatal(err)
	}
}
