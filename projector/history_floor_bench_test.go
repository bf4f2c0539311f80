package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// History's floors (issue 11). Keeping every version must cost at most
// 20% of the live path and 30% of a rebuild without history. These
// benchmarks measure, on the drain's and the rebuild's own log, how much
// of that budget the least work of each kind takes when run alone, in
// rounds of positions as the folds run: whatever layout history uses,
// it pays at least the floor of what it does. Each floor covers the
// tables of the mix whose every event is a version (customers,
// subscriptions, invoices: fillBacklog changes each object's metadata at
// every event), none of the versions of embedded objects (plans,
// prices, customers of subscriptions), and none recomputes late events;
// only narrow-history closes earlier versions. Each is below what any
// history of the mix must do.
//
// Each floor reports x-without-history, its time as a multiple of the
// same call's drain or rebuild without history (history=false), to set
// against the budgets of 0.2 and 0.3.

// historyFloor is one kind of least work, as a statement run per table
// and round.
type historyFloor struct {
	name string
	// writes says the floor fills a floor table of its own.
	writes bool
	// round returns the statement for one table: $1 and $2 bound the
	// positions (seq in ($1, $2]), $3 is the event type.
	round func(t floorTable) string
	// fingerprints says the floor reads each event's fingerprint from
	// floor_fingerprints, made before it is timed.
	fingerprints bool
}

// floorTable is a versioned table of the mix whose every event is a
// version, as one floor reads and writes it.
type floorTable struct {
	versioned string // the current table, e.g. "subscriptions"
	eventType string // the type of the events that version it
	object    string // the payload key of its object
	cols      []fold.Column
	// Quoted names: the log, the history table, the floor's table and
	// the events' fingerprints.
	events, history, target, fingerprints string
}

var floorTables = []struct{ versioned, eventType, object string }{
	{"customers", "customer.edited", "customer"},
	{"subscriptions", "subscription.edited", "subscription"},
	{"invoices", "invoice.issued", "invoice"},
}

// historyFloors, from the least work to the most:
//   - version-rows: a narrow row per version (entity, interval, event),
//     from the log's columns alone, with the history table's key and
//     as-of index: what versions cost without their objects.
//   - objects: each version's object read from its payload, nothing
//     written: what a pass over the objects costs.
//   - records: each object turned into the history table's typed row,
//     nothing written.
//   - scalar-rows: those rows written with every jsonb column null.
//   - typed-rows: the rows written whole, as today's history tables
//     hold them (objects repeated in each version).
//   - narrow-history: a whole history of narrow rows, less the late
//     events' recomputation: each event's object fingerprint (computed
//     at ingest in that layout; here made before timing, in a table of
//     its own) compared with the one before it, the entity's current
//     version found by its key, a version written for each change and
//     the earlier version closed. What a narrow layout would pay on
//     every batch; its reads are BenchmarkAsOf's *-from-events.
//   - narrow-unclosed: narrow-history without closing the earlier
//     version, as a layout would that stored no end of a version and
//     found it at read time from the next one.
var historyFloors = []historyFloor{
	{name: "version-rows", writes: true, round: func(t floorTable) string {
		return `insert into ` + t.target + ` (id, valid_from, valid_to, last_event_id, last_event_seq, event_type, event_source)
select e.resource_id, e.created_at, 'infinity', e.event_id, e.seq, e.type, e.source
from ` + t.events + ` e
where e.seq > $1 and e.seq <= $2 and e.type = $3`
	}},
	{name: "objects", round: func(t floorTable) string {
		return `select count(e.payload -> ` + quoteLiteral(t.object) + `)
from ` + t.events + ` e
where e.seq > $1 and e.seq <= $2 and e.type = $3`
	}},
	{name: "records", round: func(t floorTable) string {
		return `select count(r.*)
from ` + t.events + ` e cross join lateral jsonb_populate_record(null::` + t.history + `, e.payload -> ` + quoteLiteral(t.object) + `) r
where e.seq > $1 and e.seq <= $2 and e.type = $3`
	}},
	{name: "scalar-rows", writes: true, round: func(t floorTable) string { return typedRowsSQL(t, false) }},
	{name: "typed-rows", writes: true, round: func(t floorTable) string { return typedRowsSQL(t, true) }},
	{name: "narrow-history", writes: true, fingerprints: true, round: func(t floorTable) string { return narrowHistorySQL(t, true) }},
	{name: "narrow-unclosed", writes: true, fingerprints: true, round: func(t floorTable) string { return narrowHistorySQL(t, false) }},
}

// narrowHistorySQL folds a round's events into narrow versions:
//   - ev: the round's events with their fingerprints.
//   - cur: each entity's current version, one lookup by the key each.
//   - marked: each event with the fingerprint before it (the previous
//     event's, or the current version's for the first).
//   - versions: the events that change the object, each with where the
//     next one starts, where the entity's first new one does, and the
//     key of its current version.
//   - closed: the current version ends where the first new one starts
//     (unless !close). It reads the current version's key from versions,
//     not by joining cur: the planner cannot know a CTE's size and nested
//     its loops.
func narrowHistorySQL(t floorTable, close bool) string {
	var closed string
	if close {
		closed = `,
closed as (
  update ` + t.target + ` h set valid_to = v.first_new
  from (select distinct versions.id, versions.first_new, versions.cur_from, versions.cur_seq from versions
        where versions.cur_from is not null) v
  where h.id = v.id and h.valid_from = v.cur_from and h.last_event_seq = v.cur_seq
)`
	}
	return `with ev as materialized (
  select e.resource_id as id, e.seq, e.created_at, e.event_id, e.type, e.source, f.fp
  from ` + t.events + ` e join ` + t.fingerprints + ` f on f.seq = e.seq
  where e.seq > $1 and e.seq <= $2 and e.type = $3 and f.seq > $1 and f.seq <= $2
),
cur as materialized (
  select c.id, h.valid_from, h.last_event_seq, h.fp
  from (select distinct ev.id from ev) c
  cross join lateral (
    select v.valid_from, v.last_event_seq, v.fp from ` + t.target + ` v
    where v.id = c.id
    order by v.valid_from desc, v.last_event_seq desc
    limit 1
  ) h
),
marked as (
  select ev.*, c.valid_from as cur_from, c.last_event_seq as cur_seq,
         case when lag(ev.seq) over w is null then c.fp else lag(ev.fp) over w end as prev_fp
  from ev left join cur c on c.id = ev.id
  window w as (partition by ev.id order by ev.created_at, ev.seq)
),
versions as materialized (
  select m.id, m.seq, m.created_at, m.event_id, m.type, m.source, m.fp, m.cur_from, m.cur_seq,
         lead(m.created_at) over w as next_from, min(m.created_at) over (partition by m.id) as first_new
  from marked m
  where m.prev_fp is distinct from m.fp
  window w as (partition by m.id order by m.created_at, m.seq)
)` + closed + `
insert into ` + t.target + ` (id, valid_from, valid_to, last_event_id, last_event_seq, event_type, event_source, fp)
select v.id, v.created_at, coalesce(v.next_from, 'infinity'), v.event_id, v.seq, v.type, v.source, v.fp
from versions v`
}

// makeFingerprints fills floor_fingerprints with each event's object
// fingerprint (the MD5 of its jsonb text), as ingest would have stored
// it in the event's row, for the narrow floors to read.
func makeFingerprints(b *testing.B, pool *pgxpool.Pool, schema string) string {
	target := pgx.Identifier{schema, "floor_fingerprints"}.Sanitize()
	events := pgx.Identifier{schema, "events"}.Sanitize()
	mustExec(b, pool, "drop table if exists "+target)
	mustExec(b, pool, "create table "+target+" (seq bigint primary key, fp uuid not null)")
	for _, ft := range floorTables {
		mustExec(b, pool, "insert into "+target+" select e.seq, md5((e.payload -> $1::text)::text)::uuid from "+events+
			" e where e.type = $2", ft.object, ft.eventType)
	}
	mustExec(b, pool, "analyze "+target)
	return target
}

// typedRowsSQL writes each event's version as a row of the history
// table's type, its jsonb columns null unless withObjects.
func typedRowsSQL(t floorTable, withObjects bool) string {
	var names, values []string
	for _, c := range t.cols {
		if c.Generated {
			continue
		}
		id := pgx.Identifier{c.Name}.Sanitize()
		var v string
		switch c.Name {
		case "id":
			v = "e.resource_id"
		case colLastEventID:
			v = "e.event_id"
		case colLastEventSeq:
			v = "e.seq"
		case colLastEventAt, "valid_from":
			v = "e.created_at"
		case "valid_to":
			v = "'infinity'"
		case "event_type":
			v = "e.type"
		case "event_source":
			v = "e.source"
		case "folded_seq", "folded_at":
			v = "null"
		default:
			v = "r." + id
			if c.Type == "jsonb" && !withObjects {
				v = "null"
			}
		}
		names = append(names, id)
		values = append(values, v)
	}
	return `insert into ` + t.target + ` (` + strings.Join(names, ", ") + `)
select ` + strings.Join(values, ", ") + `
from ` + t.events + ` e cross join lateral jsonb_populate_record(null::` + t.history + `, e.payload -> ` + quoteLiteral(t.object) + `) r
where e.seq > $1 and e.seq <= $2 and e.type = $3`
}

// quoteLiteral quotes one of this file's own constants (a payload key)
// as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// floorBench runs floor f over the first events positions, in rounds of
// round positions, b.N times, each into empty floor tables. With
// lateIndexes (the rebuild's floors), the floor tables have only their
// key while they fill and build the as-of index after, as a rebuild's
// shadow tables do; otherwise they keep both indexes from the start, as
// the live tables do. without is the same call's time without history.
func floorBench(b *testing.B, pool *pgxpool.Pool, schema string, events, round int, f historyFloor, lateIndexes bool, without time.Duration) {
	ctx := context.Background()
	var tables []floorTable
	var stmts []string
	var fingerprints string
	if f.fingerprints {
		fingerprints = makeFingerprints(b, pool, schema)
	}
	for _, ft := range floorTables {
		cols, err := fold.ReadColumns(ctx, pool, schema, ft.versioned+"_history")
		if err != nil {
			b.Fatal(err)
		}
		t := floorTable{versioned: ft.versioned, eventType: ft.eventType, object: ft.object, cols: cols,
			events: pgx.Identifier{schema, "events"}.Sanitize(), history: pgx.Identifier{schema, ft.versioned + "_history"}.Sanitize(),
			fingerprints: fingerprints}
		if f.writes {
			t.target = pgx.Identifier{schema, "floor_" + strings.ReplaceAll(f.name, "-", "_") + "_" + ft.versioned}.Sanitize()
		}
		tables = append(tables, t)
		stmts = append(stmts, f.round(t))
	}
	perTable := make([]time.Duration, len(tables))
	var took time.Duration
	for b.Loop() {
		b.StopTimer() // New floor tables; not measured.
		for _, t := range tables {
			if t.target != "" {
				createFloorTable(b, pool, f.name, t.target, t.history, lateIndexes)
			}
		}
		b.StartTimer()
		for i, t := range tables {
			start := time.Now()
			for lo := 0; lo < events; lo += round {
				floorRound(b, pool, stmts[i], lo, min(lo+round, events), t.eventType)
			}
			if t.target != "" && lateIndexes {
				mustExec(b, pool, fmt.Sprintf("create index on %s (valid_to, valid_from)", t.target))
			}
			d := time.Since(start)
			perTable[i] += d
			took += d
		}
	}
	for _, t := range tables {
		if t.target != "" {
			checkFloorVersions(b, pool, t.target, t.events, t.eventType)
		}
		if f.name == "narrow-history" {
			checkOpenVersions(b, pool, t.target)
		}
	}
	var parts []string
	for i, t := range tables {
		parts = append(parts, fmt.Sprintf("%s %s", t.versioned, (perTable[i]/time.Duration(b.N)).Round(time.Millisecond)))
	}
	b.Logf("floor %s: %s (%s)", f.name, (took / time.Duration(b.N)).Round(time.Millisecond), strings.Join(parts, ", "))
	reportWithoutHistory(b, took/time.Duration(b.N), without)
}

// createFloorTable makes an empty floor table: for version-rows the
// version columns alone (the narrow floors: and the fingerprint), otherwise
// the history table's columns; with the history table's key, and its
// as-of index unless lateIndexes.
func createFloorTable(b *testing.B, pool *pgxpool.Pool, floor, target, history string, lateIndexes bool) {
	mustExec(b, pool, "drop table if exists "+target)
	switch floor {
	case "version-rows", "narrow-history", "narrow-unclosed":
		fp := ""
		if floor != "version-rows" {
			fp = "fp uuid not null,"
		}
		mustExec(b, pool, "create table "+target+` (id text not null, valid_from timestamptz not null, valid_to timestamptz not null,
  last_event_id text not null, last_event_seq bigint not null, event_type text not null, event_source text not null, `+fp+`
  primary key (id, valid_from, last_event_seq))`)
	default:
		// The history table's columns, compression and key.
		mustExec(b, pool, fmt.Sprintf("create table %s (like %s including defaults including generated including constraints including compression, primary key (id, valid_from, last_event_seq))", target, history))
	}
	if !lateIndexes {
		mustExec(b, pool, fmt.Sprintf("create index on %s (valid_to, valid_from)", target))
	}
}

// floorRound runs one round in its own transaction, with the folds'
// session settings, as the live path runs a batch.
func floorRound(b *testing.B, pool *pgxpool.Pool, stmt string, lo, hi int, eventType string) {
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fold.PrepareTx(ctx, tx); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec(ctx, stmt, lo, hi, eventType); err != nil {
		b.Fatalf("%v\n%s", err, stmt)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}

// checkFloorVersions fails unless the floor table holds a version for
// every event of its type: a floor that wrote less would flatter.
func checkFloorVersions(b *testing.B, pool *pgxpool.Pool, target, events, eventType string) {
	var rows, want int64
	if err := pool.QueryRow(context.Background(), fmt.Sprintf("select (select count(*) from %s), (select count(*) from %s where type = $1)", target, events),
		eventType).Scan(&rows, &want); err != nil {
		b.Fatal(err)
	}
	if rows != want || want == 0 {
		b.Fatalf("%s holds %d versions; the log has %d %s events", target, rows, want, eventType)
	}
}

// checkOpenVersions fails unless every entity of the floor table has
// exactly one open version and no version ends before it starts: a floor
// that closed none would flatter.
func checkOpenVersions(b *testing.B, pool *pgxpool.Pool, target string) {
	var entities, open, inverted int64
	if err := pool.QueryRow(context.Background(), fmt.Sprintf(`select count(distinct id), count(*) filter (where valid_to = 'infinity'),
  count(*) filter (where valid_to < valid_from) from %s`, target)).Scan(&entities, &open, &inverted); err != nil {
		b.Fatal(err)
	}
	if open != entities || inverted != 0 {
		b.Fatalf("%s: %d entities, %d open versions, %d ending before they start", target, entities, open, inverted)
	}
}

// reportWithoutHistory reports took as a multiple of the same call's run
// without history (0 when that run was filtered out).
func reportWithoutHistory(b *testing.B, took, without time.Duration) {
	if without <= 0 {
		b.Logf("no history=false run in this call: x-without-history not reported")
		return
	}
	b.ReportMetric(took.Seconds()/without.Seconds(), "x-without-history")
}

func mustExec(b *testing.B, pool *pgxpool.Pool, stmt string, args ...any) {
	b.Helper()
	if _, err := pool.Exec(context.Background(), stmt, args...); err != nil {
		b.Fatalf("%v\n%s", err, stmt)
	}
}
