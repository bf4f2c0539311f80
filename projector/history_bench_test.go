package projector

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/logfile"
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

func wholeTable(b *testing.B, db DB, asOf, cols string, at time.Time, want int) {
	ctx := context.Background()
	for b.Loop() {
		rows, err := db.Query(ctx, "select "+cols+" from "+asOf+"($1)", at)
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
