package logfile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkExportImport measures export and import on the reference mix
// (webhooktest: customer ~1 KB, subscription ~54 KB, invoice ~4 KB bodies,
// in turn): ORB_BENCH_EVENTS events (default 30,000) about 1,000 entities
// per kind, built with COPY, in a new schema or, with ORB_BENCH_KEEP, in a
// schema kept between runs (pgtest.KeptSchema); or, with ORB_BENCH_SCHEMA,
// the log of any existing schema (e.g. the console bench's kept
// 1,000,000-event one). export writes the whole log to io.Discard in the
// default format (stored zstd frames), export-plain in version 1 (plain
// bodies); import loads an exported file (in memory) into a new schema's
// empty log; import+rebuild is what `orb-sync import` does, to compare
// with rebuild (every table of the source log).
//
//	ORB_BENCH_EVENTS=100000 go test -run '^$' -bench ExportImport -benchtime 3x -count 3 ./eventlog/logfile/
func BenchmarkExportImport(b *testing.B) {
	ctx := context.Background()
	var pool *pgxpool.Pool
	var schema string
	n := 30000
	if v := os.Getenv("ORB_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("ORB_BENCH_EVENTS=%q: want a positive integer", v)
		}
	}
	build := func(s *pgtest.Schema) {
		if err := webhooktest.Copy(ctx, s.Pool, s.Name, n, 1000, "whsec_bench"); err != nil {
			b.Fatal(err)
		}
	}
	switch {
	case os.Getenv("ORB_BENCH_SCHEMA") != "":
		p, err := pgxpool.New(ctx, pgtest.DatabaseURL(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		pool, schema = p, os.Getenv("ORB_BENCH_SCHEMA")
	case os.Getenv("ORB_BENCH_KEEP") != "":
		s := pgtest.KeptSchema(b, os.Getenv("ORB_BENCH_KEEP"), fmt.Sprintf("export bench: %d events, 1000 entities per kind", n), build)
		pool, schema = s.Pool, s.Name
	default:
		s := pgtest.NewSchema(b)
		build(s)
		pool, schema = s.Pool, s.Name
	}
	var events int64
	if err := pool.QueryRow(ctx, "select count(*) from "+pgx.Identifier{schema, "events"}.Sanitize()).Scan(&events); err != nil {
		b.Fatal(err)
	}
	export := func(b *testing.B, cfg ExportConfig) {
		var took time.Duration
		var bytes int64
		for b.Loop() {
			start := time.Now()
			p, err := Export(ctx, pool, io.Discard, cfg)
			if err != nil || p.Events != events {
				b.Fatalf("exported %d of %d events: %v", p.Events, events, err)
			}
			took += time.Since(start)
			bytes = p.Bytes
		}
		b.ReportMetric(float64(events)*float64(b.N)/took.Seconds(), "events/s")
		b.ReportMetric(float64(bytes)*float64(b.N)/took.Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(bytes)/float64(events), "B/event")
	}
	b.Run("export", func(b *testing.B) { export(b, ExportConfig{Schema: schema}) })
	b.Run("export-plain", func(b *testing.B) { export(b, ExportConfig{Schema: schema, PlainBodies: true}) })
	if os.Getenv("ORB_BENCH_SCHEMA") != "" {
		return // the file of a large log does not fit in memory
	}
	// The file is written once, when a benchmark below first needs it.
	var file bytes.Buffer
	exported := func(b *testing.B) []byte {
		if file.Len() == 0 {
			if _, err := Export(ctx, pool, &file, ExportConfig{Schema: schema}); err != nil {
				b.Fatal(err)
			}
		}
		return file.Bytes()
	}
	b.Run("import", func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			b.StopTimer() // a new empty schema per import
			s := pgtest.NewSchema(b)
			in := exported(b)
			b.StartTimer()
			start := time.Now()
			p, err := Import(ctx, s.Pool, bytes.NewReader(in), ImportConfig{Schema: s.Name})
			if err != nil || p.Events != events {
				b.Fatalf("imported %d of %d events: %v", p.Events, events, err)
			}
			took += time.Since(start)
		}
		b.ReportMetric(float64(events)*float64(b.N)/took.Seconds(), "events/s")
	})
	// What `orb-sync import` does (load, then rebuild every table) against
	// a rebuild of every table of the source log.
	rebuild := func(b *testing.B, s *pgtest.Schema) {
		r, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Rebuild(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("rebuild", func(b *testing.B) {
		for b.Loop() {
			rebuild(b, &pgtest.Schema{Name: schema, Pool: pool})
		}
	})
	b.Run("import+rebuild", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := pgtest.NewSchema(b)
			in := exported(b)
			b.StartTimer()
			if _, err := Import(ctx, s.Pool, bytes.NewReader(in), ImportConfig{Schema: s.Name}); err != nil {
				b.Fatal(err)
			}
			rebuild(b, s)
		}
	})
}
