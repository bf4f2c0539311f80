// Package pgtest is test tooling, never run by the service: it gives tests a
// real PostgreSQL schema of their own, migrated with the real migrations,
// and a TCP proxy that can cut the connection (Proxy). The server comes from
// TEST_DATABASE_URL, else a local server, else a throwaway cluster (package
// pglocal, below this one). DATABASE_URL is never read: a shell pointed at
// production must not run tests against it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

var (
	urlOnce sync.Once
	dbURL   string
	urlErr  error
)

// DatabaseURL returns the server tests use, starting one if needed.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	urlOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dbURL, urlErr = serverURL(ctx, os.Getenv)
		if urlErr == nil {
			urlErr = dropAbandonedSchemas(ctx, dbURL, time.Now())
		}
	})
	if urlErr != nil {
		tb.Fatalf("finding a PostgreSQL server for tests: %v", urlErr)
	}
	return dbURL
}

// serverURL is TEST_DATABASE_URL, else a local server (pglocal). It never
// reads DATABASE_URL.
func serverURL(ctx context.Context, getenv func(string) string) (string, error) {
	if url := getenv("TEST_DATABASE_URL"); url != "" {
		return url, nil
	}
	return pglocal.Ensure(ctx, filepath.Join(os.TempDir(), "orb-sync-pgtest"))
}

// Schema is a freshly migrated schema for one test.
type Schema struct {
	Name string
	URL  string
	Pool *pgxpool.Pool
}

// NewSchema creates and migrates a schema that is dropped when the test
// ends. Its pool has an empty search_path, so SQL that forgets to qualify a
// name fails loudly instead of finding another schema's table.
func NewSchema(tb testing.TB) *Schema {
	tb.Helper()
	s := NewEmptySchema(tb)
	ctx := context.Background()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		tb.Fatalf("acquiring connection: %v", err)
	}
	defer conn.Release()
	if err := orbsql.Migrate(ctx, conn.Conn(), s.Name); err != nil {
		tb.Fatalf("migrating %s: %v", s.Name, err)
	}
	return s
}

// NewEmptySchema is NewSchema without the migrations: the name is reserved
// and cleaned up, the schema itself does not exist yet.
func NewEmptySchema(tb testing.TB) *Schema {
	tb.Helper()
	base := DatabaseURL(tb)
	name := schemaName(time.Now())
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		tb.Fatalf("parsing test database url: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	cfg.MaxConns = 8
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("connecting: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		DropSchema(tb, name)
	})
	return &Schema{Name: name, URL: base, Pool: pool}
}

// DropSchema drops a test schema with everything in it.
func DropSchema(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DatabaseURL(tb))
	if err != nil {
		tb.Errorf("connecting to drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "drop schema if exists "+pgx.Identifier{name}.Sanitize()+" cascade"); err != nil {
		tb.Errorf("dropping %s: %v", name, err)
	}
}

// Test schema names carry their creation time, so a later run can tell the
// schemas of a crashed run (never dropped) from those of runs still going
// on the same server: test_<unix seconds>_<12 hex>.
var schemaPattern = regexp.MustCompile(`^test_([0-9]{10})_[0-9a-f]{12}$`)

// abandonedAfter is how old a test schema must be to be taken for a crashed
// run's: longer than any test run (CI gives the whole suite 90 minutes).
const abandonedAfter = 3 * time.Hour

func schemaName(now time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("test_%d_%s", now.Unix(), hex.EncodeToString(b[:]))
}

// dropAbandonedSchemas drops the test schemas created more than
// abandonedAfter ago: a test run that crashed (or was killed) never ran
// its cleanups, and nothing else would ever drop them.
func dropAbandonedSchemas(ctx context.Context, url string, now time.Time) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting to drop abandoned test schemas: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "select nspname from pg_catalog.pg_namespace where nspname like 'test\\_%'")
	if err != nil {
		return fmt.Errorf("listing test schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing test schemas: %w", err)
	}
	for _, name := range names {
		if !abandoned(name, now) {
			continue
		}
		if _, err := conn.Exec(ctx, "drop schema if exists "+pgx.Identifier{name}.Sanitize()+" cascade"); err != nil {
			return fmt.Errorf("dropping abandoned test schema %s: %w", name, err)
		}
	}
	return nil
}

// abandoned reports whether name is a test schema older than
// abandonedAfter.
func abandoned(name string, now time.Time) bool {
	m := schemaPattern.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	secs, err := strconv.ParseInt(m[1], 10, 64)
	return err == nil && now.Sub(time.Unix(secs, 0)) > abandonedAfter
}
