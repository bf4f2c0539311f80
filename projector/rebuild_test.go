package projector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// rebuilder returns a Rebuilder on the test schema; fields set in cfg win.
func (b *testBundle) rebuilder(t *testing.T, cfg RebuildConfig) *Rebuilder {
	t.Helper()
	cfg.Schema = b.schema.Name
	if cfg.Logger == nil {
		cfg.Logger = b.logger
	}
	r, err := NewRebuilder(b.schema.Pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dump returns every projection table's rows, every column.
func (b *testBundle) dump(t *testing.T) map[string]map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]map[string]any{}
	for _, p := range catalog {
		out[p.Table] = b.rows(t, p.Table)
	}
	return out
}

func sameDump(t *testing.T, what string, got, want map[string]map[string]map[string]any) {
	t.Helper()
	for _, p := range catalog {
		sameRows(t, p.Table+" "+what, got[p.Table], want[p.Table])
	}
}

// layout lists the schema's tables and indexes (with their table), so a
// test can check that a swap keeps every name and leaves nothing behind.
func (b *testBundle) layout(t *testing.T) []string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), `
select c.relkind::text || ' ' || c.relname || coalesce(' on ' || t.relname, '')
from pg_class c join pg_namespace n on n.oid = c.relnamespace
left join pg_index i on i.indexrelid = c.oid left join pg_class t on t.oid = i.indrelid
where n.nspname = $1 and c.relkind in ('r', 'i') order by 1`, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRebuildGivesTheLiveTables projects a history delivered in shuffled
// order, in small live batches, then rebuilds every table from the log, in
// one fold and in many small chunks: each rebuild gives the live tables
// back, every column of every row, under the same table and index names.
func TestRebuildGivesTheLiveTables(t *testing.T) {
	t.Parallel()
	events := history(t, 7, 150)
	rand.New(rand.NewPCG(7, 1)).Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	b := setup(t)
	b.appendInChunks(t, events, 13, 5)
	live, layout := b.dump(t), b.layout(t)
	for _, chunk := range []int64{0, 17} {
		res, err := b.rebuilder(t, RebuildConfig{ChunkSize: chunk}).Rebuild(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(catalog) {
			t.Fatalf("rebuilt %d tables, want %d", len(res), len(catalog))
		}
		sameDump(t, fmt.Sprintf("rebuilt with chunk size %d", chunk), b.dump(t), live)
		if got := b.layout(t); !slices.Equal(got, layout) {
			t.Fatalf("tables and indexes after the rebuild:\n%v\nwant\n%v", got, layout)
		}
	}
	b.checkVerifies(t)
}

// checkVerifies fails unless Verify finds every table equal to the log.
func (b *testBundle) checkVerifies(t *testing.T) {
	t.Helper()
	results, err := Verify(context.Background(), b.schema.Pool, b.schema.Name, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.OK() {
			t.Errorf("verify %s: %d differences, e.g. %v; dead letters %v", r.Table, r.Differences, r.Examples, r.DeadLetters)
		}
	}
}

// ingest appends the events in batches of 5 from a goroutine until stop
// is called or they run out, and reports how many were appended.
func (b *testBundle) ingest(events []eventlog.Event) (stop func() int64) {
	var appended atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(events); i += 5 {
			select {
			case <-done:
				return
			default:
			}
			batch := events[i:min(i+5, len(events))]
			if _, err := b.appender.AppendBatch(context.Background(), batch); err != nil {
				b.logger.Error("ingest failed", "error", err)
				return
			}
			appended.Add(int64(len(batch)))
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return appended.Load()
	}
}

// TestRebuildUnderConcurrentIngest rebuilds every table while the live
// projector runs and events keep arriving, some of them right before the
// swap transaction: no event is lost at the swap, so once caught up every
// table equals a rebuild of the final log from scratch.
func TestRebuildUnderConcurrentIngest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(t, Config{BatchSize: 20})
	b.append(t, history(t, 11, 120)...)
	b.waitCaughtUp(t)

	var swaps atomic.Int64
	racing := customerEvents(t, 5000, len(catalog)*5)
	r := b.rebuilder(t, RebuildConfig{CatchUpLimit: 3, OnProgress: func(pr RebuildProgress) {
		if pr.Phase == PhaseSwapping {
			// Appended after the catch-up: the swap transaction applies it.
			i := swaps.Add(1) - 1
			if _, err := b.appender.AppendBatch(context.Background(), racing[i*5:i*5+5]); err != nil {
				b.logger.Error("append before swap failed", "error", err)
			}
		}
	}})
	stop := b.ingest(customerEvents(t, 10000, 3000))
	res, err := r.Rebuild(context.Background())
	if n := stop(); n == 0 {
		t.Error("nothing was appended during the rebuild")
	}
	if err != nil {
		t.Fatal(err)
	}
	st := b.waitCaughtUp(t)
	for _, r := range res {
		if r.Checkpoint <= r.Head {
			t.Errorf("%s swapped in at %d, not after its fill head %d", r.Table, r.Checkpoint, r.Head)
		}
	}
	if st.Head < 120+int64(len(racing)) {
		t.Fatalf("head %d: appends were lost", st.Head)
	}
	b.checkRebuildMatches(t)
	if !p.IsLeader() {
		t.Error("the projector stopped leading")
	}
}

// TestReadersNeverSeeAMissingRow queries the tables in a loop from several
// connections while they are rebuilt and swapped three times: every query
// succeeds and finds every row.
func TestReadersNeverSeeAMissingRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, history(t, 5, 200)...)
	b.drain(t, 1000)
	ctx := context.Background()
	tables := []string{"customers", "subscriptions", "invoices"}
	want := map[string][]string{}
	for _, table := range tables {
		for k := range b.rows(t, table) {
			want[table] = append(want[table], k)
		}
	}
	var queries, failures atomic.Int64
	var firstFailure atomic.Value
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, table := range tables {
					var n int
					err := b.schema.Pool.QueryRow(ctx, "select count(*) from "+pgx.Identifier{b.schema.Name, table}.Sanitize()+
						" where id = any ($1)", want[table]).Scan(&n)
					queries.Add(1)
					if err == nil && n != len(want[table]) {
						err = fmt.Errorf("%s: %d of %d rows", table, n, len(want[table]))
					}
					if err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
					}
				}
			}
		}()
	}
	for range 3 {
		if _, err := b.rebuilder(t, RebuildConfig{}).Rebuild(ctx, tables...); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d of %d reader queries failed, first: %v", failures.Load(), queries.Load(), firstFailure.Load())
	}
	t.Logf("%d reader queries during the swaps, none missed a row", queries.Load())
}

// TestCancelledRebuildLeavesLiveUntouched cancels a rebuild in the middle
// of its fill: the live table, its checkpoint and the schema are as before.
// A killed rebuild leaves its shadow table behind; the next run drops it
// and starts over.
func TestCancelledRebuildLeavesLiveUntouched(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, history(t, 3, 120)...)
	b.drain(t, 1000)
	live, layout := b.dump(t), b.layout(t)
	before, err := ReadStatus(context.Background(), b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := b.rebuilder(t, RebuildConfig{ChunkSize: 10, OnProgress: func(p RebuildProgress) {
		if p.Phase == PhaseFilling && p.Done > 0 {
			cancel()
		}
	}})
	if _, err := r.Rebuild(ctx, "customers"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rebuild returned %v", err)
	}
	sameDump(t, "after a cancelled rebuild", b.dump(t), live)
	if got := b.layout(t); !slices.Equal(got, layout) {
		t.Fatalf("tables and indexes after the cancelled rebuild:\n%v\nwant\n%v", got, layout)
	}
	after, err := ReadStatus(context.Background(), b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Projections[0] != before.Projections[0] {
		t.Errorf("checkpoint moved: %+v, was %+v", after.Projections[0], before.Projections[0])
	}

	// What a killed run leaves: a half-filled shadow and, had it died right
	// after a swap, the old table.
	for _, stmt := range []string{"create table %s.customers_rebuild (junk int)", "create table %s.customers_old (junk int)"} {
		if _, err := b.schema.Pool.Exec(context.Background(), fmt.Sprintf(stmt, pgx.Identifier{b.schema.Name}.Sanitize())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.rebuilder(t, RebuildConfig{}).Rebuild(context.Background(), "customers"); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "after the rerun", b.dump(t), live)
	if got := b.layout(t); !slices.Equal(got, layout) {
		t.Fatalf("tables and indexes after the rerun:\n%v\nwant\n%v", got, layout)
	}
}

// TestOneRebuildPerTable: while a session holds a table's rebuild lock,
// another rebuild of that table fails at once and touches nothing.
func TestOneRebuildPerTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	conn, err := b.schema.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if got, err := tryRebuildLock(ctx, conn, b.schema.Name, "invoices"); err != nil || !got {
		t.Fatalf("taking the lock: %v %v", got, err)
	}
	defer func() { _ = unlockRebuild(ctx, conn, b.schema.Name, "invoices") }()
	res, err := b.rebuilder(t, RebuildConfig{}).Rebuild(ctx, "customers", "invoices")
	if !errors.Is(err, ErrRebuildRunning) {
		t.Fatalf("rebuild while locked = %v, want ErrRebuildRunning", err)
	}
	if len(res) != 1 || res[0].Table != "customers" {
		t.Errorf("rebuilt %+v, want customers only", res)
	}
}

// TestRebuildRefusesDependents: a view on a table would keep pointing at
// the old one after a swap, so the rebuild refuses and names it.
func TestRebuildRefusesDependents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	s := pgx.Identifier{b.schema.Name}.Sanitize()
	if _, err := b.schema.Pool.Exec(ctx, "create view "+s+".active_customers as select id from "+s+".customers"); err != nil {
		t.Fatal(err)
	}
	_, err := b.rebuilder(t, RebuildConfig{}).Rebuild(ctx, "customers")
	if err == nil || !strings.Contains(err.Error(), "active_customers") {
		t.Fatalf("rebuild with a view = %v, want a refusal naming the view", err)
	}
}

// TestRebuildCancelledMidStatement cancels while the fill statement runs
// (held on a lock of the log): the statement is cancelled, the shadow table
// dropped from a fresh session if the rebuild's was closed, and the live
// table is untouched.
func TestRebuildCancelledMidStatement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, history(t, 4, 60)...)
	b.drain(t, 1000)
	live, layout := b.dump(t), b.layout(t)
	ctx := context.Background()
	events := pgx.Identifier{b.schema.Name, "events"}.Sanitize()
	blocker, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(ctx) }()

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	r := b.rebuilder(t, RebuildConfig{OnProgress: func(p RebuildProgress) {
		if p.Phase != PhaseFilling {
			return
		}
		once.Do(func() {
			if _, err := blocker.Exec(ctx, "lock table "+events+" in access exclusive mode"); err != nil {
				b.logger.Error("locking the log", "error", err)
			}
			go func() { // Cancel once the fill waits for the log.
				defer cancel()
				deadline := time.Now().Add(waitTimeout)
				for {
					var waiting bool
					err := b.schema.Pool.QueryRow(ctx, "select exists (select from pg_locks where relation = $1::regclass and not granted)",
						events).Scan(&waiting)
					switch {
					case err != nil:
						t.Errorf("reading lock waits: %v", err)
						return
					case waiting:
						return
					case time.Now().After(deadline):
						t.Errorf("the fill never waited for the locked log within %s: the test would not cancel mid-statement", waitTimeout)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		})
	}})
	if _, err := r.Rebuild(rctx, "customers"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rebuild returned %v", err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	sameDump(t, "after a rebuild cancelled mid-statement", b.dump(t), live)
	if got := b.layout(t); !slices.Equal(got, layout) {
		t.Fatalf("tables and indexes after the cancelled rebuild:\n%v\nwant\n%v", got, layout)
	}
}

// TestRebuildKeepsAnEmptyTable: a table with no rows that no event in the
// log feeds is kept as it is (no shadow, no swap): only its checkpoint
// moves to the head, with this binary's version. A table with a row no
// event gave, or whose first event arrives while it is being kept, is
// rebuilt from the log instead, and every table then agrees with it.
func TestRebuildKeepsAnEmptyTable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.append(t, customerEvents(t, 0, 20)...)
	b.drain(t, 1000)
	s := pgx.Identifier{b.schema.Name}.Sanitize()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.schema.Pool.Exec(ctx, fmt.Sprintf(sql, s), args...); err != nil {
			t.Fatal(err)
		}
	}
	oid := func() (o uint32) {
		t.Helper()
		if err := b.schema.Pool.QueryRow(ctx, "select to_regclass($1)::oid", b.schema.Name+".items").Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	checkpoint := func() ProjectionStatus {
		t.Helper()
		st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Projections {
			if p.Projection == "items" {
				return p
			}
		}
		t.Fatal("no items checkpoint")
		return ProjectionStatus{}
	}
	rebuild := func(cfg RebuildConfig, names ...string) []RebuildResult {
		t.Helper()
		res, err := b.rebuilder(t, cfg).Rebuild(ctx, names...)
		if err != nil || len(res) != len(names) {
			t.Fatalf("rebuilt %+v: %v", res, err)
		}
		return res
	}

	// As an older release left it: behind the log, built by another version.
	exec("update %s.projection_checkpoints set seq = 3, version = 0 where projection = 'items'")
	layout, itemsOID := b.layout(t), oid()
	res := rebuild(RebuildConfig{}, "customers", "items") // In catalog order.
	if res[0].KeptEmpty || !res[1].KeptEmpty {
		t.Errorf("kept empty: customers %v, items %v; want false, true", res[0].KeptEmpty, res[1].KeptEmpty)
	}
	if got := oid(); got != itemsOID {
		t.Errorf("items is a new table (oid %d, was %d)", got, itemsOID)
	}
	if got := b.layout(t); !slices.Equal(got, layout) {
		t.Errorf("tables and indexes after the rebuild:\n%v\nwant\n%v", got, layout)
	}
	if cp := checkpoint(); cp.Checkpoint != 20 || cp.StoredVersion != cp.Version || res[1].Checkpoint != 20 {
		t.Errorf("items checkpoint %+v (result %d), want 20 at version %d", cp, res[1].Checkpoint, cp.Version)
	}

	// A row no event gave: rebuilt, so it goes.
	exec(`insert into %s.items (id, name, last_event_id, last_event_seq, last_event_at) values ('item_x', 'hand edit', 'evt_x', 1, now())`)
	if res := rebuild(RebuildConfig{}, "items"); res[0].KeptEmpty {
		t.Error("items with a row was kept")
	}
	if n := b.count(t, "items"); n != 0 {
		t.Errorf("items has %d rows after the rebuild, want 0", n)
	}

	// The first event for items arrives once the rebuild has looked at the
	// log (as it tries to keep the table): it is rebuilt, with the row.
	var appended atomic.Bool
	res = rebuild(RebuildConfig{OnProgress: func(p RebuildProgress) {
		if p.Phase == PhaseSwapping && !appended.Swap(true) {
			b.append(t, event(t, "evt_item", "snapshot.item", at(30), map[string]any{"item": itemObj("item_1")}))
		}
	}}, "items")
	if res[0].KeptEmpty || res[0].Rows != 1 || res[0].Checkpoint != 21 {
		t.Errorf("items after its first event: %+v, want rebuilt with 1 row at 21", res[0])
	}
	b.row(t, "items", "item_1")
	if cp := checkpoint(); cp.Checkpoint != 21 || cp.StoredVersion != cp.Version {
		t.Errorf("items checkpoint %+v, want 21 at version %d", cp, cp.Version)
	}
	b.checkVerifies(t)
}
