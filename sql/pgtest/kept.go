package pgtest

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// KeptSchema is a schema that outlives the run, for benchmarks whose data
// takes longer to build than to measure (a million-event log): the first
// run creates and migrates schema name and calls build, later runs find it
// and skip build. A finished build is marked by the schema's comment,
// which must equal what; a schema with another comment (an interrupted or
// different build) fails the benchmark: drop it to start over. Never
// dropped by the tests, nor by the cleanup of abandoned test schemas.
func KeptSchema(tb testing.TB, name, what string, build func(*Schema)) *Schema {
	tb.Helper()
	ctx := context.Background()
	url := DatabaseURL(tb)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("parsing test database url: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connecting: %v", err)
	}
	tb.Cleanup(pool.Close)
	s := &Schema{Name: name, URL: url, Pool: pool}
	var comment *string
	err = pool.QueryRow(ctx, "select obj_description(oid, 'pg_namespace') from pg_catalog.pg_namespace where nspname = $1", name).Scan(&comment)
	switch {
	case err == nil && comment != nil && *comment == what:
		return s
	case err == nil:
		tb.Fatalf("schema %s exists but is not a finished %q: drop it to build it again", name, what)
	case !errors.Is(err, pgx.ErrNoRows):
		tb.Fatalf("looking for schema %s: %v", name, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		tb.Fatalf("acquiring connection: %v", err)
	}
	err = orbsql.Migrate(ctx, conn.Conn(), name)
	conn.Release()
	if err != nil {
		tb.Fatalf("migrating %s: %v", name, err)
	}
	build(s)
	if _, err := pool.Exec(ctx, "comment on schema "+pgx.Identifier{name}.Sanitize()+" is "+orbsql.QuoteLiteral(what)); err != nil {
		tb.Fatalf("marking %s built: %v", name, err)
	}
	return s
}
