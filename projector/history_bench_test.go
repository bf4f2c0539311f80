package projector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/logfile"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkAudit measures the audit reads on BenchmarkDrain's generated
// log (ORB_BENCH_EVENTS events over ORB_BENCH_ENTITIES entities per kind,
// defaults 3,000 and 10,000), projected with history by the live path:
// one subscription as of an instant (by id), every subscription as of an
// instant (all rows fetched), and exporting the whole log.
//
//	ORB_BENCH_EVENTS=300000 go test -run '^$' -bench Audit -benchtime 20x -count 3 ./projector/
func BenchmarkAudit(b *testing.B) {
	events := benchEnv("ORB_BENCH_EVENTS", 3000)
	entities := benchEnv("ORB_BENCH_ENTITIES", 10000)
	s := pgtest.NewSchema(b)
	ctx := context.Background()
	fillBacklog(b, s.Pool, s.Name, events, entities)
	p, err := New(s.Pool, Config{Schema: s.Name})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.prepare(ctx); err != nil {
		b.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Pool.Exec(ctx, "analyze "+pgx.Identifier{s.Name, "subscriptions_history"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	// fillBacklog's events are a millisecond apart from 2025-01-01: the
	// instant is three quarters into the log.
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(events*3/4) * time.Millisecond)
	asOf := pgx.Identifier{s.Name, "subscriptions_as_of"}.Sanitize()
	var versions, current int
	if err := s.Pool.QueryRow(ctx, "select (select count(*) from "+pgx.Identifier{s.Name, "subscriptions_history"}.Sanitize()+
		"), (select count(*) from "+asOf+"($1))", at).Scan(&versions, &current); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events, %d subscription versions, %d subscriptions as of %s", events, versions, current, at.Format(time.RFC3339Nano))

	b.Run("one-entity", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			id := fmt.Sprintf("sub_%d", r.IntN(min(entities, max(events/3, 1))))
			rows, err := s.Pool.Query(ctx, "select * from "+asOf+"($1) where id = $2", at, id)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			if rows.Err() != nil {
				b.Fatal(rows.Err())
			}
		}
	})
	for _, c := range []struct{ name, cols string }{
		{"whole-table", "*"},
		// What a report reads: no plan, price intervals or customer objects.
		{"whole-table-narrow", "id, status, plan_id, customer_id, start_date, end_date, valid_from, last_event_id"},
	} {
		b.Run(c.name, func(b *testing.B) { wholeTable(b, s.Pool, asOf, c.cols, at, current) })
	}
	b.Run("export", func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			start := time.Now()
			res, err := logfile.Export(ctx, s.Pool, io.Discard, logfile.ExportConfig{Schema: s.Name})
			if err != nil || res.Events != int64(events) {
				b.Fatalf("exported %d events: %v", res.Events, err)
			}
			took += time.Since(start)
		}
		b.ReportMetric(float64(events)*float64(b.N)/took.Seconds(), "events/s")
	})
}

// wholeTable reads cols of every entity as of at, b.N times.
func wholeTable(b *testing.B, db DB, asOf, cols string, at time.Time, want int) {
	readAll(b, db, "select "+cols+" from "+asOf+"($1)", want, at)
}

// BenchmarkAsOf measures the as-of reads on the reference mix
// (webhooktest: subscriptions are ~54 KB webhooks, every event changes its
// object): ORB_BENCH_EVENTS events (default 30,000) about
// ORB_BENCH_ENTITIES entities per kind (default 10,000), built with COPY
// and folded by a rebuild of subscriptions and their history. With
// ORB_BENCH_KEEP=<schema> the log is built once into that schema and kept
// (a 1,000,000-event one takes far longer to build than to measure).
// The instant is the time of the middle event. current-table reads the
// current subscriptions whole, whole-table's baseline.
//
//	ORB_BENCH_KEEP=bench_asof_1m ORB_BENCH_EVENTS=1000000 go test -run '^$' -bench AsOf -benchtime 20x -count 3 -timeout 90m ./projector/
func BenchmarkAsOf(b *testing.B) {
	events := benchEnv("ORB_BENCH_EVENTS", 30000)
	entities := benchEnv("ORB_BENCH_ENTITIES", 10000)
	ctx := context.Background()
	build := func(s *pgtest.Schema) {
		if err := webhooktest.Copy(ctx, s.Pool, s.Name, events, entities, "whsec_bench"); err != nil {
			b.Fatal(err)
		}
		r, err := NewRebuilder(s.Pool, RebuildConfig{Schema: s.Name, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Rebuild(ctx, "subscriptions", "subscriptions_history"); err != nil {
			b.Fatal(err)
		}
		for _, t := range []string{"events", "subscriptions_history"} {
			if _, err := s.Pool.Exec(ctx, "analyze "+pgx.Identifier{s.Name, t}.Sanitize()); err != nil {
				b.Fatal(err)
			}
		}
	}
	var s *pgtest.Schema
	if keep := os.Getenv("ORB_BENCH_KEEP"); keep != "" {
		s = pgtest.KeptSchema(b, keep, fmt.Sprintf("as-of bench: %d events, %d entities per kind", events, entities), build)
	} else {
		s = pgtest.NewSchema(b)
		build(s)
	}
	var at time.Time
	if err := s.Pool.QueryRow(ctx, "select created_at from "+pgx.Identifier{s.Name, "events"}.Sanitize()+" where seq = $1",
		events/2).Scan(&at); err != nil {
		b.Fatal(err)
	}
	asOf := pgx.Identifier{s.Name, "subscriptions_as_of"}.Sanitize()
	var versions, current int
	if err := s.Pool.QueryRow(ctx, "select (select count(*) from "+pgx.Identifier{s.Name, "subscriptions_history"}.Sanitize()+
		"), (select count(*) from "+asOf+"($1))", at).Scan(&versions, &current); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events, %d subscription versions, %d subscriptions as of %s", events, versions, current, at.Format(time.RFC3339Nano))
	b.Run("one-entity", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			id := fmt.Sprintf("sub_%d", r.IntN(entities))
			var n int
			if err := s.Pool.QueryRow(ctx, "select count(*) from "+asOf+"($1) where id = $2", at, id).Scan(&n); err != nil || n > 1 {
				b.Fatalf("%s: %d rows, %v", id, n, err)
			}
		}
	})
	b.Run("whole-table", func(b *testing.B) { wholeTable(b, s.Pool, asOf, "*", at, current) })
	b.Run("whole-table-narrow", func(b *testing.B) {
		wholeTable(b, s.Pool, asOf, "id, status, plan_id, customer_id, start_date, end_date, valid_from, last_event_id", at, current)
	})
	// The baseline of whole-table: every column of the current table,
	// the same 10,000 subscriptions with objects of the same size, no
	// history read. What whole-table takes beyond it is the as-of's own.
	b.Run("current-table", func(b *testing.B) {
		table := pgx.Identifier{s.Name, "subscriptions"}.Sanitize()
		var want int
		if err := s.Pool.QueryRow(ctx, "select count(*) from "+table).Scan(&want); err != nil {
			b.Fatal(err)
		}
		readAll(b, s.Pool, "select * from "+table, want)
	})
}

// readAll runs query b.N times, fetching every row, and fails unless it
// returns want rows.
func readAll(b *testing.B, db DB, query string, want int, args ...any) {
	ctx := context.Background()
	for b.Loop() {
		rows, err := db.Query(ctx, query, args...)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Err() != nil || n != want {
			b.Fatalf("%d rows (%v), want %d", n, rows.Err(), want)
		}
	}
	b.ReportMetric(float64(want), "rows")
}
