package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Backlog benchmarks. Sizes come from the environment so the default run
// stays short:
//
//	ORB_BENCH_EVENTS=200000 go test -run '^$' -bench Drain -benchtime 1x -count 1 ./projector/
//
// The mix is the load generator's reference mix: equal thirds of
// customer.edited (~1 KB), subscription.edited (~54 KB, the recorded
// subscription fixture with its full plan) and invoice.issued (~4 KB), over
// ORB_BENCH_ENTITIES (default 1,000) entities of each kind, so every entity
// is updated many times.
//
// Measured 2026-11-27 on this project's 2-core machine, PostgreSQL 15,
// other builds running:
//
//	ORB_BENCH_EVENTS=1000000 ORB_BENCH_BATCHES=20000 go test -run '^$' -bench Drain -benchtime 1x -count 1 -timeout 60m -v ./projector/
//	  drain 15.2 s = 65,815 events/s; floor 5.57 s = 179,409 events/s (2.73x)
//	ORB_BENCH_SENDERS=32 ORB_BENCH_SECONDS=10 go test -run '^$' -bench LiveIngest -benchtime 1x -count 1 ./projector/
//	  2,651 events/s ingested; max lag 471 events (0.18 s); caught up 57 ms after the last append

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkDrain measures events/s applied by the live path (every
// projection, batch by batch, a checkpoint per batch) draining a backlog,
// for each batch size in ORB_BENCH_BATCHES (default 10000), and, in the
// same run, the floor: one hand-written INSERT ... SELECT DISTINCT ON per
// table the mix touches, over the same events.
func BenchmarkDrain(b *testing.B) {
	events := benchEnv("ORB_BENCH_EVENTS", 30000)
	entities := benchEnv("ORB_BENCH_ENTITIES", 1000)
	s := pgtest.NewSchema(b)
	ctx := context.Background()
	start := time.Now()
	fillBacklog(b, s.Pool, s.Name, events, entities)
	b.Logf("backlog of %d events over %d entities per kind generated in %s", events, entities, time.Since(start).Round(time.Millisecond))
	if _, err := s.Pool.Exec(ctx, "vacuum analyze "+pgx.Identifier{s.Name, "events"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	floor := distinctOnFloor(b, s.Pool, s.Name)
	floorPerSec := float64(events) / floor.Seconds()
	b.Logf("floor: %s for %d events (%.0f events/s)", floor.Round(time.Millisecond), events, floorPerSec)
	batches := strings.Split(os.Getenv("ORB_BENCH_BATCHES"), ",")
	if batches[0] == "" {
		batches = []string{strconv.Itoa(batchSizeDefault)}
	}
	for _, bs := range batches {
		batch, err := strconv.Atoi(bs)
		if err != nil {
			b.Fatal(err)
		}
		// history=false first: its time is the baseline of the floors
		// (history_floor_bench_test.go), run next, and of the drains with
		// history.
		var without time.Duration
		for i, v := range historyVariants(b) {
			if i == 1 {
				for _, f := range historyFloors {
					b.Run(fmt.Sprintf("events=%d/batch=%d/floor=%s", events, batch, f.name), func(b *testing.B) {
						floorBench(b, s.Pool, s.Name, events, batch, f, false, without)
					})
				}
			}
			b.Run(fmt.Sprintf("events=%d/batch=%d/history=%s", events, batch, v.name), func(b *testing.B) {
				took := drainBench(b, s.Pool, s.Name, events, batch, v.paused, floor)
				if i == 0 {
					without = took
				} else {
					reportWithoutHistory(b, took, without)
				}
			})
		}
	}
}

// historyVariant is a drain's PROJECTOR_HISTORY: the versioned tables
// whose history it leaves paused.
type historyVariant struct {
	name   string
	paused []string
}

// historyVariants are the drains to run: history=false pauses every
// history (PROJECTOR_HISTORY=none) and history=true keeps all, so the pair
// measures what keeping every version costs the live path;
// ORB_BENCH_HISTORY (e.g. "invoices,subscriptions") adds a drain keeping
// only those.
func historyVariants(tb testing.TB) []historyVariant {
	variants := []historyVariant{{"false", versioned}, {"true", nil}}
	if list := os.Getenv("ORB_BENCH_HISTORY"); list != "" {
		paused, err := PausedHistoryFor(list)
		if err != nil {
			tb.Fatalf("ORB_BENCH_HISTORY: %v", err)
		}
		variants = append(variants, historyVariant{list, paused})
	}
	return variants
}

// drainBench drains the backlog with the live path, b.N times, and
// returns the time of one drain.
func drainBench(b *testing.B, pool *pgxpool.Pool, schema string, events, batch int, paused []string, floor time.Duration) time.Duration {
	ctx := context.Background()
	floorPerSec := float64(events) / floor.Seconds()
	var drain time.Duration
	for b.Loop() {
		b.StopTimer() // Empty the tables; not measured.
		resetProjections(b, pool, schema)
		p, err := New(pool, Config{Schema: schema, BatchSize: batch, PausedHistory: paused, Logger: benchLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.prepare(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t := time.Now()
		if err := p.catchUp(ctx); err != nil {
			b.Fatal(err)
		}
		drain += time.Since(t)
	}
	perRun := drain / time.Duration(b.N)
	perSec := float64(events) / perRun.Seconds()
	b.ReportMetric(perSec, "events/s")
	b.ReportMetric(floorPerSec, "floor-events/s")
	b.ReportMetric(perRun.Seconds()/floor.Seconds(), "x-floor")
	b.Logf("drain %s (%.0f events/s), %.2f× the floor", perRun.Round(time.Millisecond), perSec, perRun.Seconds()/floor.Seconds())
	return perRun
}

// fillBacklog writes n events in one INSERT ... SELECT from templates, as
// the appender would have stored them (body bytes + jsonb payload, resource
// columns, unique ids, created_at increasing), and moves the log head.
func fillBacklog(tb testing.TB, pool *pgxpool.Pool, schema string, n, entities int) {
	tb.Helper()
	tpl := func(e map[string]any) []byte {
		raw, err := json.MarshalIndent(e, "", "  ") // Indented like the recorded payloads.
		if err != nil {
			tb.Fatal(err)
		}
		return raw
	}
	customer := tpl(map[string]any{"id": "x", "type": "customer.edited", "created_at": "2025-01-01T00:00:00Z",
		"customer": customerObj(tb, "x"), "properties": map[string]any{"previous_attributes": map[string]any{"metadata": map[string]any{}}}})
	subscription := tpl(map[string]any{"id": "x", "type": "subscription.edited", "created_at": "2025-01-01T00:00:00Z",
		"subscription": subscriptionObj(tb, "x", "x", "plan_bench"), "properties": map[string]any{}})
	invoice := tpl(map[string]any{"id": "x", "type": "invoice.issued", "created_at": "2025-01-01T00:00:00Z",
		"invoice": invoiceObj(tb, "x", "x", "x"), "properties": map[string]any{"automatically_marked_as_paid": false}})
	events := pgx.Identifier{schema, "events"}.Sanitize()
	q := strings.NewReplacer("{{events}}", events, "{{head}}", pgx.Identifier{schema, "log_head"}.Sanitize()).Replace(`
with k(kind, type, rtype, prefix, tpl, body) as (values
    (0, 'customer.edited', 'customer', 'cus_', convert_from($1, 'UTF8')::jsonb, $1),
    (1, 'subscription.edited', 'subscription', 'sub_', convert_from($2, 'UTF8')::jsonb, $2),
    (2, 'invoice.issued', 'invoice', 'inv_', convert_from($3, 'UTF8')::jsonb, $3))
insert into {{events}} (seq, event_id, type, created_at, source, resource_type, resource_id, body, payload)
select g.n, 'evt_' || g.n, k.type, timestamptz '2025-01-01' + g.n * interval '1 millisecond', 'webhook',
       k.rtype, k.prefix || g.ent, k.body,
       jsonb_set(jsonb_set(jsonb_set(k.tpl, '{id}', to_jsonb('evt_' || g.n)),
                           array[k.rtype, 'id'], to_jsonb(k.prefix || g.ent)),
                 array[k.rtype, 'metadata'], jsonb_build_object('bench_seq', g.n::text))
from (select n, n % 3 as kind, (n / 3) % $5 as ent from generate_series(1, $4::bigint) n) g
join k on k.kind = g.kind;
`)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, q, customer, subscription, invoice, n, entities); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "update "+pgx.Identifier{schema, "log_head"}.Sanitize()+" set seq = $1", n); err != nil {
		tb.Fatal(err)
	}
}

// resetProjections empties every projection table and checkpoint.
func resetProjections(tb testing.TB, pool *pgxpool.Pool, schema string) {
	tb.Helper()
	names := []string{pgx.Identifier{schema, "projection_checkpoints"}.Sanitize(), pgx.Identifier{schema, "dead_letters"}.Sanitize()}
	for _, p := range catalog {
		names = append(names, pgx.Identifier{schema, p.Table}.Sanitize())
	}
	if _, err := pool.Exec(context.Background(), "truncate "+strings.Join(names, ", ")); err != nil {
		tb.Fatal(err)
	}
}

// distinctOnFloor runs, per table of the mix, the simplest correct
// projection for full objects: the newest event per entity, mapped to
// columns, inserted into an empty copy of the table. It returns the total.
func distinctOnFloor(tb testing.TB, pool *pgxpool.Pool, schema string) time.Duration {
	tb.Helper()
	ctx := context.Background()
	events := pgx.Identifier{schema, "events"}.Sanitize()
	var total time.Duration
	for _, f := range []struct{ table, types, object, id string }{
		{"customers", "array['customer.edited']", "e.payload -> 'customer'", "e.resource_id"},
		{"subscriptions", "array['subscription.edited']", "e.payload -> 'subscription'", "e.resource_id"},
		{"invoices", "array['invoice.issued']", "e.payload -> 'invoice'", "e.resource_id"},
		{"plans", "array['subscription.edited']", "e.payload -> 'subscription' -> 'plan'", "e.payload -> 'subscription' -> 'plan' ->> 'id'"},
	} {
		live := pgx.Identifier{schema, f.table}.Sanitize()
		floor := pgx.Identifier{schema, "floor_" + f.table}.Sanitize()
		if _, err := pool.Exec(ctx, fmt.Sprintf("create table %s (like %s including all)", floor, live)); err != nil {
			tb.Fatal(err)
		}
		cols, err := fold.ReadColumns(ctx, pool, schema, f.table)
		if err != nil {
			tb.Fatal(err)
		}
		var names, values []string
		for _, c := range cols {
			if c.Generated {
				continue
			}
			id := pgx.Identifier{c.Name}.Sanitize()
			names = append(names, id)
			switch c.Name {
			case "id":
				values = append(values, "x.entity")
			case colLastEventID:
				values = append(values, "x.event_id")
			case colLastEventSeq:
				values = append(values, "x.seq")
			case colLastEventAt:
				values = append(values, "x.created_at")
			default:
				values = append(values, "r."+id)
			}
		}
		q := fmt.Sprintf(`insert into %s (%s)
select %s from (
  select distinct on (%s) %s as entity, e.seq, e.event_id, e.created_at, e.payload
  from %s e where e.type = any (%s)
  order by %s, e.created_at desc, e.seq desc
) x cross join lateral jsonb_populate_record(null::%s, %s) r`,
			floor, strings.Join(names, ", "), strings.Join(values, ", "), f.id, f.id, events, f.types, f.id,
			live, strings.Replace(f.object, "e.payload", "x.payload", 1))
		// Same session settings as the projector's transactions (JIT off),
		// so the comparison is of the SQL alone.
		start := time.Now()
		tx, err := pool.Begin(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if err := fold.PrepareTx(ctx, tx); err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(ctx, q); err != nil {
			tb.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			tb.Fatal(err)
		}
		took := time.Since(start)
		tb.Logf("floor %s: %s", f.table, took.Round(time.Millisecond))
		total += took
	}
	return total
}

// BenchmarkLiveIngest appends the reference mix as fast as the appender's
// group commit takes it (ORB_BENCH_SENDERS goroutines, default 8) for
// ORB_BENCH_SECONDS (default 5) while a started projector follows, and
// reports the ingest rate, the largest lag seen (sampled every 100 ms) and
// how long the projector needed to catch up after the last append.
//
//	ORB_BENCH_SECONDS=20 go test -run '^$' -bench LiveIngest -benchtime 1x -count 1 ./projector/
func BenchmarkLiveIngest(b *testing.B) {
	seconds := benchEnv("ORB_BENCH_SECONDS", 5)
	senders := benchEnv("ORB_BENCH_SENDERS", 8)
	s := pgtest.NewSchema(b)
	ctx := context.Background()
	appender, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
	if err != nil {
		b.Fatal(err)
	}
	appender.Start()
	defer appender.Stop()
	mix := newMixTemplates(b)
	for b.Loop() {
		p, err := New(s.Pool, Config{Schema: s.Name, ApplicationName: "bench-" + s.Name})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			b.Fatal(err)
		}
		var sent atomic.Int64
		deadline := time.Now().Add(time.Duration(seconds) * time.Second)
		var wg sync.WaitGroup
		for w := range senders {
			wg.Go(func() {
				for i := w; time.Now().Before(deadline); i += senders {
					if _, err := appender.Append(ctx, mix.event(i)); err != nil {
						b.Error(err)
						return
					}
					sent.Add(1)
				}
			})
		}
		var maxLag int64
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		ticker := time.NewTicker(100 * time.Millisecond)
	sample:
		for {
			select {
			case <-done:
				break sample
			case <-ticker.C:
				st, err := ReadStatus(ctx, s.Pool, s.Name)
				if err != nil {
					b.Fatal(err)
				}
				for _, ps := range st.Projections {
					maxLag = max(maxLag, ps.LagEvents)
				}
			}
		}
		ticker.Stop()
		stopped := time.Now()
		for caughtUp := false; !caughtUp; time.Sleep(10 * time.Millisecond) {
			st, err := ReadStatus(ctx, s.Pool, s.Name)
			if err != nil {
				b.Fatal(err)
			}
			caughtUp = !slices.ContainsFunc(st.Projections, func(p ProjectionStatus) bool { return p.LagEvents > 0 })
		}
		catchUp := time.Since(stopped)
		p.Stop()
		rate := float64(sent.Load()) / float64(seconds)
		b.ReportMetric(rate, "ingest-events/s")
		b.ReportMetric(float64(maxLag), "max-lag-events")
		b.ReportMetric(catchUp.Seconds()*1000, "catch-up-ms")
		b.Logf("senders=%d ingest=%.0f events/s for %ds, max lag %d events (%.2f s of ingest), caught up %s after the last append",
			senders, rate, seconds, maxLag, float64(maxLag)/rate, catchUp.Round(time.Millisecond))
	}
}

// mixTemplates builds events of the reference mix by substituting ids into
// recorded bodies, without parsing them (as the appender receives them from
// the receiver, already verified).
type mixTemplates struct {
	bodies [3]string
	types  [3]string
	kinds  [3]string
}

func newMixTemplates(tb testing.TB) *mixTemplates {
	m := &mixTemplates{types: [3]string{"customer.edited", "subscription.edited", "invoice.issued"},
		kinds: [3]string{"customer", "subscription", "invoice"}}
	objects := [3]map[string]any{customerObj(tb, "__ID__"), subscriptionObj(tb, "__ID__", "cus_x", "plan_bench"),
		invoiceObj(tb, "__ID__", "cus_x", "sub_x")}
	for k := range 3 {
		raw, err := json.MarshalIndent(map[string]any{"id": "__EVT__", "type": m.types[k], "created_at": "__AT__",
			m.kinds[k]: objects[k], "properties": map[string]any{}}, "", "  ")
		if err != nil {
			tb.Fatal(err)
		}
		m.bodies[k] = string(raw)
	}
	return m
}

func (m *mixTemplates) event(i int) eventlog.Event {
	k := i % 3
	id := fmt.Sprintf("%s_%d", m.kinds[k][:3], (i/3)%1000)
	evt := fmt.Sprintf("evt_%d_%d", time.Now().UnixNano(), i)
	at := time.Now().UTC()
	body := strings.NewReplacer("__EVT__", evt, "__AT__", at.Format(time.RFC3339Nano), "__ID__", id).Replace(m.bodies[k])
	return eventlog.Event{
		Envelope: eventlog.Envelope{ID: evt, Type: m.types[k], CreatedAt: at, ResourceType: m.kinds[k], ResourceID: id},
		Body:     []byte(body),
	}
}

// benchLogger logs the projector's batches (projection, events, took) to
// stderr at debug level when ORB_BENCH_LOG is set, so a drain can be split
// by table; otherwise it discards them.
func benchLogger() *slog.Logger {
	if os.Getenv("ORB_BENCH_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
