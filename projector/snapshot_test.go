package projector

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSnapshotEqualsAsOf freezes a shuffled history at several instants,
// interval boundaries included, and compares every versioned table of the
// snapshot with the as-of function it came from; a snapshot at the log head
// by position equals the live tables; both are read-only by grants.
func TestSnapshotEqualsAsOf(t *testing.T) {
	t.Parallel()
	b := setup(t)
	events := history(t, 7, 80)
	b.appendInChunks(t, events, 20, 1000)
	ctx := context.Background()
	instants := []time.Time{at(-1), at(0), at(17), at(40), at(40).Add(-time.Microsecond), at(79), at(1000)}
	for i, ts := range instants {
		into := fmt.Sprintf("%s_asof%d", b.schema.Name, i)
		b.dropAfter(t, into)
		if _, err := Snapshot(ctx, b.schema.Pool, SnapshotConfig{Schema: b.schema.Name, Into: into, AsOf: &ts}); err != nil {
			t.Fatal(err)
		}
		for _, table := range versioned {
			got := b.rowsOfSchema(t, into, table, "")
			want := b.rowsOfSchema(t, b.schema.Name, table+"_as_of", "($1)", ts)
			sameRows(t, fmt.Sprintf("%s as of %s", table, ts.Format(time.RFC3339Nano)), got, want)
		}
		b.checkReadOnly(t, into)
	}
	// Every instant above was busy: the snapshots are not all empty.
	if n := len(b.rowsOfSchema(t, b.schema.Name, "customers_as_of", "($1)", at(40))); n == 0 {
		t.Fatal("customers_as_of(at 40) is empty: the test proves nothing")
	}

	head, err := readHead(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	into := b.schema.Name + "_atseq"
	b.dropAfter(t, into)
	res, err := Snapshot(ctx, b.schema.Pool, SnapshotConfig{Schema: b.schema.Name, Into: into, AtSeq: head})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range catalog {
		if !p.History {
			sameRows(t, p.Table+" at the head", b.rowsOfSchema(t, into, p.Table, ""), b.rowsOfSchema(t, b.schema.Name, p.Table, ""))
		}
	}
	if res.Head != head || len(res.Tables) != len(catalog)-len(versioned) {
		t.Errorf("snapshot result %+v", res)
	}
	_, err = Snapshot(ctx, b.schema.Pool, SnapshotConfig{Schema: b.schema.Name, Into: into, AtSeq: head})
	if !errors.Is(err, ErrSchemaExists) {
		t.Errorf("second snapshot into %s: %v", into, err)
	}
}

func (b *testBundle) dropAfter(t *testing.T, schema string) {
	t.Cleanup(func() {
		_, _ = b.schema.Pool.Exec(context.Background(), "drop schema if exists "+pgx.Identifier{schema}.Sanitize()+" cascade")
	})
}

// rowsOfSchema dumps schema.rel (a table, or a function called with call)
// by key, leaving out the history bookkeeping.
func (b *testBundle) rowsOfSchema(t *testing.T, schema, rel, call string, args ...any) map[string]map[string]any {
	t.Helper()
	key := "id"
	if p, ok := projectionByName(rel); ok {
		key = p.Key
	}
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf("select r.%s::text, to_jsonb(r) - $%d::text[] from %s%s r",
		pgx.Identifier{key}.Sanitize(), len(args)+1, pgx.Identifier{schema, rel}.Sanitize(), call), append(args, historyColumns)...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for rows.Next() {
		var k string
		var row map[string]any
		if err := rows.Scan(&k, &row); err != nil {
			t.Fatal(err)
		}
		out[k] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkReadOnly fails unless no role holds a write privilege on any table
// of schema (the tests run as a superuser, whom grants do not bind).
func (b *testBundle) checkReadOnly(t *testing.T, schema string) {
	t.Helper()
	var writers []string
	rows, err := b.schema.Pool.Query(context.Background(), `
select format('%s: %s to %s', c.relname, a.privilege_type, a.grantee::regrole)
from pg_catalog.pg_class c cross join lateral aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
where c.relnamespace = $1::regnamespace and c.relkind = 'r'
  and a.privilege_type in ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')`, schema)
	if err != nil {
		t.Fatal(err)
	}
	writers, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(writers) > 0 {
		t.Errorf("snapshot %s is writable: %v", schema, writers[:min(5, len(writers))])
	}
}
