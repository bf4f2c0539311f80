package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/projector"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// outcome is what the checks found for one scenario's ledger.
type outcome struct {
	acked      int // distinct event ids acknowledged 2xx
	lost       int // acknowledged but not in the log
	duplicates int // event ids stored more than once, or positions not gapless
	events     int // rows in the log
	verified   bool
	problems   []string
}

func (o *outcome) fail(format string, args ...any) {
	o.problems = append(o.problems, fmt.Sprintf(format, args...))
}

func (o *outcome) ok() bool { return len(o.problems) == 0 && o.lost == 0 && o.duplicates == 0 }

// table names a relation of schema.
func table(schema, name string) string { return pgx.Identifier{schema, name}.Sanitize() }

// queries are the checks' SQL, in sql/queries/deploy/chaos/ (see package
// sql for the scheme). They read the tables directly, not through the
// service's packages, so a bug there cannot hide from the check.
type queries struct {
	AckedCopies    string `sql:"acked_copies"`
	Gapless        string `sql:"gapless"`
	HeadAndSlowest string `sql:"head_and_slowest"`
	Snapshots      string `sql:"snapshots"`
	HostileStored  string `sql:"hostile_stored"`
	Terminate      string `sql:"terminate"`
}

var sqlFiles = orbsql.MustQueries[queries]("deploy/chaos")

// checkLog checks the log of schema against the acknowledged ids: each is
// stored exactly once, positions are gapless, the projections catch up to
// the head, and `orb-sync verify` finds every table equal to a clean
// rebuild from the log.
func (s *suite) checkLog(ctx context.Context, schema string, acked []string) outcome {
	o := outcome{acked: len(acked)}
	pool, err := s.pool(ctx)
	if err != nil {
		o.fail("connecting: %v", err)
		return o
	}
	defer pool.Close()
	found := map[string]int{}
	for i := 0; i < len(acked); i += 5000 {
		chunk := acked[i:min(i+5000, len(acked))]
		rows, err := pool.Query(ctx, sqlFiles.For(schema).AckedCopies, chunk)
		if err != nil {
			o.fail("reading the log: %v", err)
			return o
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				o.fail("reading the log: %v", err)
				return o
			}
			found[id] = n
		}
		rows.Close()
	}
	for _, id := range acked {
		switch n := found[id]; {
		case n == 0:
			o.lost++
		case n > 1:
			o.duplicates++
		}
	}
	var count, maxSeq, head int64
	err = pool.QueryRow(ctx, sqlFiles.For(schema).Gapless).
		Scan(&count, &maxSeq, &head)
	if err != nil {
		o.fail("reading the head: %v", err)
		return o
	}
	o.events = int(count)
	if count != maxSeq || maxSeq != head {
		o.duplicates++
		o.fail("log not gapless: %d rows, max seq %d, head %d", count, maxSeq, head)
	}
	if err := s.waitProjected(ctx, pool, schema, 2*time.Minute); err != nil {
		o.fail("%v", err)
	}
	o.verified = s.verify(ctx, schema, &o)
	return o
}

// waitProjected waits until every projection's checkpoint is at the head.
func (s *suite) waitProjected(ctx context.Context, pool *pgxpool.Pool, schema string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		lag, err := projectionLag(ctx, pool, schema)
		if err == nil && lag == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projections still %d events behind after %s (%v)", lag, limit, err)
		}
		if !sleep.For(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// projectionLag is head minus the slowest projection's checkpoint.
func projectionLag(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, schema string) (int64, error) {
	var head, slowest int64
	err := db.QueryRow(ctx, sqlFiles.For(schema).HeadAndSlowest).Scan(&head, &slowest)
	return head - slowest, err
}

// verify runs `orb-sync verify` on schema.
func (s *suite) verify(ctx context.Context, schema string, o *outcome) bool {
	cmd := exec.CommandContext(ctx, s.bin, "verify")
	cmd.Env = []string{"DATABASE_URL=" + s.dbURL, "DATABASE_SCHEMA=" + schema, "LOG_FORMAT=text", "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.fail("orb-sync verify: %v: %s", err, lastLines(string(out), 5))
		return false
	}
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func (s *suite) pool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(s.dbURL)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "chaos-checker"
	cfg.MaxConns = 4
	return pgxpool.NewWithConfig(ctx, cfg)
}

// sameTables compares every projection table of two schemas row for row,
// leaving out last_event_seq and folded_seq (log positions differ with
// delivery order).
// It returns the tables that differ and the rows compared.
func (s *suite) sameTables(ctx context.Context, a, b string) (differ []string, rows int, err error) {
	pool, err := s.pool(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer pool.Close()
	for _, p := range projector.Projections() {
		ta, tb := table(a, p.Table), table(b, p.Table)
		var diff, n int
		// folded_seq (history tables) is a log position too.
		q := fmt.Sprintf(`select
  (select count(*) from ((select to_jsonb(x) - %[3]s from %[1]s x except all select to_jsonb(y) - %[3]s from %[2]s y)
     union all (select to_jsonb(y) - %[3]s from %[2]s y except all select to_jsonb(x) - %[3]s from %[1]s x)) d),
  (select count(*) from %[1]s)`, ta, tb, "array['last_event_seq', 'folded_seq']")
		if err := pool.QueryRow(ctx, q).Scan(&diff, &n); err != nil {
			return nil, 0, fmt.Errorf("comparing %s: %w", p.Table, err)
		}
		if diff > 0 {
			differ = append(differ, fmt.Sprintf("%s (%d rows differ)", p.Table, diff))
		}
		rows += n
	}
	return differ, rows, nil
}

// terminate ends the sessions of the service's database whose
// application_name starts with prefix; it returns how many.
func (s *suite) terminate(ctx context.Context, pool *pgxpool.Pool, prefix string) (int, error) {
	var n int
	err := pool.QueryRow(ctx, sqlFiles.For(orbsql.DefaultSchema).Terminate, prefix).Scan(&n)
	return n, err
}
