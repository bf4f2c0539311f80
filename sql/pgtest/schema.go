// Package pgtest is test tooling, never run by the service: it gives tests a
// real PostgreSQL schema of their own, migrated with the real migrations,
// and a TCP proxy that can cut the connection (Proxy). The server comes from
// TEST_DATABASE_URL or DATABASE_URL, else a local server, else a throwaway
// cluster (package pglocal, below this one).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
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
		for _, env := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
			if v := os.Getenv(env); v != "" {
				dbURL = v
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dbURL, urlErr = pglocal.Ensure(ctx, filepath.Join(os.TempDir(), "orb-sync-pgtest"))
	})
	if urlErr != nil {
		tb.Fatalf("finding a PostgreSQL server for tests: %v", urlErr)
	}
	return dbURL
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
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
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
