package projector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkRebuild measures a rebuild of every table (what `orb-sync
// reproject --all` does: shadow tables, indexes, swaps) over a log of
// ORB_BENCH_EVENTS events of the reference mix (BenchmarkDrain's backlog),
// against the same hand-written DISTINCT ON floor:
//
//	ORB_BENCH_EVENTS=300000 ORB_BENCH_ENTITIES=10000 go test -run '^$' -bench Rebuild -benchtime 3x -count 1 ./projector/
//
// events/s counts log events per second of a whole rebuild of all tables.
// The README's numbers come from `orb-sync reproject --all` on a log
// written by `orb-sync loadgen --fill`, against testdata/rebuild_floor.sql.
func BenchmarkRebuild(b *testing.B) {
	events := benchEnv("ORB_BENCH_EVENTS", 10000) // Small by default: CI runs it once (make bench-smoke).
	entities := benchEnv("ORB_BENCH_ENTITIES", 1000)
	s := pgtest.NewSchema(b)
	ctx := context.Background()
	fillBacklog(b, s.Pool, s.Name, events, entities)
	if _, err := s.Pool.Exec(ctx, "vacuum analyze "+pgx.Identifier{s.Name, "events"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	floor := distinctOnFloor(b, s.Pool, s.Name)
	r, err := NewRebuilder(s.Pool, RebuildConfig{Schema: s.Name, Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	// history=false leaves the history projections out: the pair measures
	// what keeping every version costs a rebuild, and the first compares
	// with releases before history.
	//
	// Between the two, history's floors (history_floor_bench_test.go) in
	// the rebuild's chunks, against history=false.
	var without time.Duration
	for _, history := range []bool{false, true} {
		if history {
			for _, f := range historyFloors {
				b.Run("floor="+f.name, func(b *testing.B) {
					floorBench(b, s.Pool, s.Name, events, fold.HistoryChunkMax, f, true, without)
				})
			}
		}
		var names []string
		for _, p := range catalog {
			if history || !p.History {
				names = append(names, p.Name)
			}
		}
		b.Run(fmt.Sprintf("history=%v", history), func(b *testing.B) {
			took := rebuildBench(b, r, names, events, floor)
			if history {
				reportWithoutHistory(b, took, without)
			} else {
				without = took
			}
		})
	}
}

// rebuildBench rebuilds the named projections b.N times and returns the
// time of one rebuild.
func rebuildBench(b *testing.B, r *Rebuilder, names []string, events int, floor time.Duration) time.Duration {
	ctx := context.Background()
	var took time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := r.Rebuild(ctx, names...)
		took += time.Since(start)
		if err != nil || len(res) != len(names) {
			b.Fatalf("rebuilt %d tables: %v", len(res), err)
		}
	}
	perRun := took / time.Duration(b.N)
	b.ReportMetric(float64(events)/perRun.Seconds(), "events/s")
	b.ReportMetric(float64(events)/floor.Seconds(), "floor-events/s")
	b.ReportMetric(perRun.Seconds()/floor.Seconds(), "x-floor")
	b.Logf("rebuild of every table %s (%.0f events/s), %.2f× the floor (%s)", perRun.Round(time.Millisecond),
		float64(events)/perRun.Seconds(), perRun.Seconds()/floor.Seconds(), floor.Round(time.Millisecond))
	return perRun
}
