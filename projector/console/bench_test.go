package console

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
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
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	a.Start()
	if err := webhooktest.Fill(ctx, a, events, entities, nil); err != nil {
		b.Fatal(err)
	}
	a.Stop()
	appendEvents(b, s, logger, consoletest.Events())
	rebuilder, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rebuilder.Rebuild(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, "analyze "+s.Name+".events"); err != nil {
		b.Fatal(err)
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
