package projector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
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
// (webhooktest: thirds customer.edited ~1 KB, subscription.edited ~54 KB,
// invoice.issued ~4 KB; every event changes its object): ORB_BENCH_EVENTS
// events (default 30,000) about ORB_BENCH_ENTITIES entities per kind
// (default 10,000), built with COPY and folded by a rebuild of customers,
// subscriptions, invoices and their histories. With
// ORB_BENCH_KEEP=<schema> the log is built once into that schema and kept
// (a 1,000,000-event one takes far longer to build than to measure). The
// instant is the time of the middle event.
//
// For each table: one-entity (by id), whole-table (every column of every
// entity), current-table (the current table read whole: whole-table's
// baseline, the same rows without history), period-versions (one column
// of every version begun in the middle tenth of the log: history read
// across time), and the same reads as a narrow history would answer them
// (*-from-events; asOfTable.fromEvents), for comparison; *-unclosed as
// one that stores no end of a version would.
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
		var projections []string
		for _, t := range asOfTables {
			projections = append(projections, t.name, t.name+"_history")
		}
		if _, err := r.Rebuild(ctx, projections...); err != nil {
			b.Fatal(err)
		}
		for _, t := range append([]string{"events"}, projections...) {
			if _, err := s.Pool.Exec(ctx, "analyze "+pgx.Identifier{s.Name, t}.Sanitize()); err != nil {
				b.Fatal(err)
			}
		}
	}
	var s *pgtest.Schema
	if keep := os.Getenv("ORB_BENCH_KEEP"); keep != "" {
		s = pgtest.KeptSchema(b, keep, fmt.Sprintf("as-of bench: %d events, %d entities per kind, customers, subscriptions and invoices with history",
			events, entities), build)
	} else {
		s = pgtest.NewSchema(b)
		build(s)
	}
	// The instant is the middle event's time; the period, for
	// period-versions, the middle tenth of the log.
	var in asOfInstants
	eventAt := "(select created_at from " + pgx.Identifier{s.Name, "events"}.Sanitize() + " where seq = $%d)"
	if err := s.Pool.QueryRow(ctx, "select "+fmt.Sprintf(eventAt, 1)+", "+fmt.Sprintf(eventAt, 2)+", "+fmt.Sprintf(eventAt, 3),
		events/2, events*9/20, events*11/20).Scan(&in.at, &in.periodFrom, &in.periodUntil); err != nil {
		b.Fatal(err)
	}
	for _, t := range asOfTables {
		b.Run(t.name, func(b *testing.B) { t.bench(b, s, in, entities) })
	}
}

// asOfInstants are the times BenchmarkAsOf reads at: the instant of the
// as-of reads and the period [periodFrom, periodUntil) of period-versions.
type asOfInstants struct{ at, periodFrom, periodUntil time.Time }

// asOfTable is one table BenchmarkAsOf reads as of an instant.
type asOfTable struct {
	name   string // the current table; its history is name_history
	object string // the key of its object in the webhooks' payload
	prefix string // its ids' prefix in webhooktest
	// compare lists columns fromEvents must answer as the as-of function
	// does: the payload's own keys, not derived ones.
	compare []string
	// narrow, if set, are the columns of a report, without large objects.
	narrow string
}

var asOfTables = []asOfTable{
	{name: "customers", object: "customer", prefix: "cus_", compare: []string{"name", "email", "currency", "metadata"}},
	{name: "subscriptions", object: "subscription", prefix: "sub_",
		compare: []string{"status", "start_date", "metadata", "price_intervals"},
		narrow:  "id, status, plan_id, customer_id, start_date, end_date, valid_from, last_event_id"},
	{name: "invoices", object: "invoice", prefix: "inv_", compare: []string{"status", "total", "metadata", "line_items"}},
}

// fromEvents is the read a narrow history would make: versions that keep
// only their entity, interval and event (a copy made here, the table
// <name>_versions), their columns read from the event's payload at query
// time instead of stored. where picks the versions (asOfWhere: those in
// effect at the instant $1); $2 is the object's key in the payload, the
// object being there or in the payload's subscription (a customer's
// versions come from both). It is a lower bound of that layout's read:
// every version here is one whole object, so no partial objects are
// folded and no derived column computed, as a narrow history would have
// to for the types that carry them.
func (t asOfTable) fromEvents(schema, where string) string {
	return t.readVersions(schema, pgx.Identifier{schema, t.name + "_versions"}.Sanitize(), where)
}

// fromEventsUnclosed is fromEvents as of the instant $1 for a narrow
// history that stores no end of a version (the narrow-unclosed floor):
// each entity's newest version begun by then, found by a backward scan
// of the key. filter narrows the versions further.
func (t asOfTable) fromEventsUnclosed(schema, filter string) string {
	newest := `(
  select distinct on (u.id) u.id, u.valid_from, u.valid_to, u.last_event_seq
  from ` + pgx.Identifier{schema, t.name + "_versions"}.Sanitize() + ` u
  where u.valid_from <= $1` + filter + `
  order by u.id desc, u.valid_from desc, u.last_event_seq desc
)`
	return t.readVersions(schema, newest, "true")
}

// readVersions reads the versions of from (a table or subquery) that
// where picks, their columns from the payload.
func (t asOfTable) readVersions(schema, from, where string) string {
	return fmt.Sprintf(`select r.*, v.valid_from, v.valid_to, v.last_event_seq
from %[1]s v
join %[2]s e on e.seq = v.last_event_seq
cross join lateral jsonb_populate_record(null::%[3]s, coalesce(e.payload -> $2::text, e.payload -> 'subscription' -> $2::text)) r
where %[4]s`,
		from, pgx.Identifier{schema, "events"}.Sanitize(), pgx.Identifier{schema, t.name}.Sanitize(), where)
}

// asOfWhere picks the versions in effect at the instant $1.
const asOfWhere = "v.valid_from <= $1 and v.valid_to > $1"

func (t asOfTable) bench(b *testing.B, s *pgtest.Schema, in asOfInstants, entities int) {
	ctx := context.Background()
	at := in.at
	hist := pgx.Identifier{s.Name, t.name + "_history"}.Sanitize()
	versions := pgx.Identifier{s.Name, t.name + "_versions"}.Sanitize()
	asOf := pgx.Identifier{s.Name, t.name + "_as_of"}.Sanitize()
	// The narrow history's versions: a table of its own, like the
	// history's with the same indexes, so its reads are its own.
	mustExec(b, s.Pool, "drop table if exists "+versions)
	mustExec(b, s.Pool, "create table "+versions+" as select id, valid_from, valid_to, last_event_seq from "+hist)
	mustExec(b, s.Pool, "alter table "+versions+" add primary key (id, valid_from, last_event_seq)")
	mustExec(b, s.Pool, "create index on "+versions+" (valid_to, valid_from)")
	mustExec(b, s.Pool, "analyze "+versions)
	b.Cleanup(func() { mustExec(b, s.Pool, "drop table "+versions) })

	var count, current int
	if err := s.Pool.QueryRow(ctx, "select (select count(*) from "+hist+"), (select count(*) from "+asOf+"($1))", at).
		Scan(&count, &current); err != nil {
		b.Fatal(err)
	}
	// fromEvents must give the as-of's answer, or it measures nothing.
	var same []string
	for _, c := range t.compare {
		id := pgx.Identifier{c}.Sanitize()
		same = append(same, "a."+id+" is not distinct from f."+id)
	}
	for _, narrowRead := range []string{t.fromEvents(s.Name, asOfWhere), t.fromEventsUnclosed(s.Name, "")} {
		var differ int
		if err := s.Pool.QueryRow(ctx, "select count(*) from "+asOf+"($1) a full join ("+narrowRead+") f using (id)"+
			" where a.id is null or f.id is null or not ("+strings.Join(same, " and ")+")", at, t.object).Scan(&differ); err != nil || differ != 0 {
			b.Fatalf("%s: %d entities differ between the as-of and the narrow read (%v)\n%s", t.name, differ, err, narrowRead)
		}
	}
	b.Logf("%s: %d versions, %d entities as of %s", t.name, count, current, at.Format(time.RFC3339Nano))

	// oneEntity reads one random entity from query, whose parameters are
	// the instant, then args; the id follows them.
	oneEntity := func(b *testing.B, query string, args ...any) {
		r := rand.New(rand.NewPCG(1, 2))
		where := fmt.Sprintf(" where id = $%d", len(args)+2)
		for b.Loop() {
			id := fmt.Sprintf("%s%d", t.prefix, r.IntN(entities))
			var n int
			if err := s.Pool.QueryRow(ctx, "select count(*) from ("+query+") q"+where,
				append([]any{at}, append(args, id)...)...).Scan(&n); err != nil || n > 1 {
				b.Fatalf("%s: %d rows, %v", id, n, err)
			}
		}
	}
	b.Run("one-entity", func(b *testing.B) { oneEntity(b, "select * from "+asOf+"($1)") })
	b.Run("whole-table", func(b *testing.B) { wholeTable(b, s.Pool, asOf, "*", at, current) })
	if t.narrow != "" {
		b.Run("whole-table-narrow", func(b *testing.B) { wholeTable(b, s.Pool, asOf, t.narrow, at, current) })
	}
	// The baseline of whole-table: every column of the current table, the
	// same entities with objects of the same size, no history read. What
	// whole-table takes beyond it is the as-of's own.
	b.Run("current-table", func(b *testing.B) {
		table := pgx.Identifier{s.Name, t.name}.Sanitize()
		var want int
		if err := s.Pool.QueryRow(ctx, "select count(*) from "+table).Scan(&want); err != nil {
			b.Fatal(err)
		}
		readAll(b, s.Pool, "select * from "+table, want)
	})
	b.Run("one-entity-from-events", func(b *testing.B) { oneEntity(b, t.fromEvents(s.Name, asOfWhere+" and v.id = $3"), t.object) })
	b.Run("whole-table-from-events", func(b *testing.B) { readAll(b, s.Pool, t.fromEvents(s.Name, asOfWhere), current, at, t.object) })
	b.Run("one-entity-from-events-unclosed", func(b *testing.B) {
		oneEntity(b, t.fromEventsUnclosed(s.Name, " and u.id = $3"), t.object)
	})
	b.Run("whole-table-from-events-unclosed", func(b *testing.B) {
		readAll(b, s.Pool, t.fromEventsUnclosed(s.Name, ""), current, at, t.object)
	})
	if t.narrow != "" {
		// A report's columns cost a narrow history every object read
		// whole: they are in the payload, not in a row of their own.
		b.Run("whole-table-narrow-from-events", func(b *testing.B) {
			readAll(b, s.Pool, "select "+t.narrow+" from ("+t.fromEvents(s.Name, asOfWhere)+") q", current, at, t.object)
		})
	}

	// History read across time, not at one instant ("every status change
	// in a period"): one column of every version that started in the
	// middle tenth of the log. A narrow history reads each version's
	// payload for it; the history here has it in its row.
	col := pgx.Identifier{t.compare[0]}.Sanitize()
	versionsFrom, versionsUntil := in.periodFrom, in.periodUntil
	var inPeriod int
	if err := s.Pool.QueryRow(ctx, "select count(*) from "+hist+" where valid_from >= $1 and valid_from < $2",
		versionsFrom, versionsUntil).Scan(&inPeriod); err != nil {
		b.Fatal(err)
	}
	b.Run("period-versions", func(b *testing.B) {
		readAll(b, s.Pool, "select id, valid_from, "+col+" from "+hist+" where valid_from >= $1 and valid_from < $2",
			inPeriod, versionsFrom, versionsUntil)
	})
	b.Run("period-versions-from-events", func(b *testing.B) {
		readAll(b, s.Pool, "select id, valid_from, "+col+" from ("+t.fromEvents(s.Name, "v.valid_from >= $1 and v.valid_from < $3")+") q",
			inPeriod, versionsFrom, t.object, versionsUntil)
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
