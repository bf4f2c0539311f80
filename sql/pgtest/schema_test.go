package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestNeverUsesDatabaseURL: a shell pointed at production (DATABASE_URL
// set) does not make tests run there.
func TestNeverUsesDatabaseURL(t *testing.T) {
	const production = "postgres://prod.example:5432/billing"
	env := map[string]string{"DATABASE_URL": production}
	url, err := serverURL(context.Background(), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if url == production {
		t.Fatal("tests would run against DATABASE_URL")
	}
	env["TEST_DATABASE_URL"] = "postgres://127.0.0.1:1/test"
	if url, _ := serverURL(context.Background(), func(k string) string { return env[k] }); url != env["TEST_DATABASE_URL"] {
		t.Fatalf("TEST_DATABASE_URL set, got %q", url)
	}
}

// TestDropsSchemasOfCrashedRuns: schemas left by a run that died long ago
// are dropped; a recent run's (maybe still going) and other schemas stay.
func TestDropsSchemasOfCrashedRuns(t *testing.T) {
	ctx := context.Background()
	url := DatabaseURL(t)
	now := time.Now()
	crashed := schemaName(now.Add(-abandonedAfter - time.Minute))
	running := schemaName(now.Add(-abandonedAfter + time.Minute))
	other := "testkeep_" + schemaName(now)[len("test_"):]
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, name := range []string{crashed, running, other} {
		if _, err := conn.Exec(ctx, "create schema "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { DropSchema(t, name) })
	}
	if err := dropAbandonedSchemas(ctx, url, now); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{crashed: false, running: true, other: true} {
		var exists bool
		if err := conn.QueryRow(ctx, "select exists (select from pg_namespace where nspname = $1)", name).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != want {
			t.Errorf("schema %s exists = %v, want %v", name, exists, want)
		}
	}
}
