// Package sql owns orb-sync's database schema and its static SQL: the tern
// migrations that create the event log and the projection tables, embedded
// in the binary, and the functions that apply them; and every package's
// static statements, one named file each under queries/ (queries.go). Every
// layer may import it, so it also holds the few helpers all of them need to
// write SQL text (text.go): advisory lock keys and quoted literals.
//
// Every object lives in one schema (DATABASE_SCHEMA, default "orb"), so two
// Orb accounts can share a database. Migrations and statement files are
// templates with the same data: {{.schema}} is the quoted schema name and
// {{.schema_name}} the bare one, for literals.
package sql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// DefaultSchema is the schema used when none is configured.
const DefaultSchema = "orb"

// versionTableName is the tern version table, inside the configured schema.
const versionTableName = "schema_version"

// schemaPattern is deliberately narrow: tern compares the version table's
// schema against pg_tables verbatim, so only names that need no quoting work,
// and a notification channel name built from it must stay under 63 bytes.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// ValidateSchema reports whether name can be used as DATABASE_SCHEMA.
func ValidateSchema(name string) error {
	if !schemaPattern.MatchString(name) {
		return fmt.Errorf("schema name %q must match %s", name, schemaPattern)
	}
	return nil
}

// Migrations returns the embedded migration files, for tests and tools.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err) // The embed pattern guarantees the directory exists.
	}
	return sub
}

// newMigrator prepares tern for schema on conn, creating the schema first.
func newMigrator(ctx context.Context, conn *pgx.Conn, schema string) (*migrate.Migrator, error) {
	if err := ValidateSchema(schema); err != nil {
		return nil, err
	}
	if err := createSchema(ctx, conn, schema); err != nil {
		return nil, err
	}
	m, err := migrate.NewMigrator(ctx, conn, schema+"."+versionTableName)
	if err != nil {
		return nil, fmt.Errorf("preparing migrator: %w", err)
	}
	m.Data["schema"] = pgx.Identifier{schema}.Sanitize()
	m.Data["schema_name"] = schema
	if err := m.LoadMigrations(Migrations()); err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	small, err := logIsSmall(ctx, conn, schema)
	if err != nil {
		return nil, err
	}
	if small {
		for _, mig := range m.Migrations {
			mig.UpSQL = buildInTransaction(mig.UpSQL)
		}
	}
	return m, nil
}

// concurrentBuildMinBytes is the size of the event log from which indexes
// on it are built concurrently. Below it a plain build in the migration's
// transaction holds appends for a moment only, and avoids what a
// concurrent build costs: it waits for every older transaction in the
// database, whatever schema it works in (test suites and fresh installs
// migrate empty logs).
const concurrentBuildMinBytes int64 = 64 << 20

// concurrentBuildMinKey lets a test move the threshold for its own calls.
type concurrentBuildMinKey struct{}

func logIsSmall(ctx context.Context, conn *pgx.Conn, schema string) (bool, error) {
	threshold := concurrentBuildMinBytes
	if v, ok := ctx.Value(concurrentBuildMinKey{}).(int64); ok {
		threshold = v
	}
	var size int64
	events := pgx.Identifier{schema, "events"}.Sanitize()
	err := conn.QueryRow(ctx, "select coalesce(pg_total_relation_size(to_regclass($1)), 0)", events).Scan(&size)
	if err != nil {
		return false, fmt.Errorf("reading the event log's size: %w", err)
	}
	return size < threshold, nil
}

var (
	disableTxMarker = regexp.MustCompile(`(?m)^---- tern: disable-tx ----$`)
	concurrently    = regexp.MustCompile(`(?i)\b(index) concurrently\b`)
)

// buildInTransaction turns a migration that builds an index concurrently
// outside a transaction (---- tern: disable-tx ----) into a plain one.
func buildInTransaction(up string) string {
	if !disableTxMarker.MatchString(up) {
		return up
	}
	return concurrently.ReplaceAllString(disableTxMarker.ReplaceAllString(up, ""), "$1")
}

// createSchema creates schema if missing. Two replicas starting together
// would race on CREATE SCHEMA IF NOT EXISTS (it can fail with a unique
// violation), so the creation runs under an advisory lock of its own.
func createSchema(ctx context.Context, conn *pgx.Conn, schema string) error {
	key := LockKey("orb-sync:create-schema:" + schema)
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("locking schema creation: %w", err)
	}
	_, err := conn.Exec(ctx, "create schema if not exists "+pgx.Identifier{schema}.Sanitize())
	_, unlockErr := conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", key)
	if err != nil {
		return fmt.Errorf("creating schema %s: %w", schema, err)
	}
	if unlockErr != nil {
		return fmt.Errorf("unlocking schema creation: %w", unlockErr)
	}
	return nil
}

// Migrate applies every pending migration to schema. It is safe to run from
// several processes at once: they take turns (migrationLock) and the later
// ones find nothing to do.
func Migrate(ctx context.Context, conn *pgx.Conn, schema string) error {
	unlock, err := migrationLockIfLarge(ctx, conn, schema)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := newMigrator(ctx, conn, schema)
	if err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating schema %s: %w", schema, err)
	}
	return nil
}

// migrationLockWait bounds the wait for another process's migrations.
const migrationLockWait = 5 * time.Minute

// migrationLockIfLarge takes migrationLock when schema's log is large
// enough for its index builds to run concurrently; on a small log the
// builds run in the migration's transaction, nothing waits for snapshots,
// and tern's own (fair, blocking) lock is enough.
func migrationLockIfLarge(ctx context.Context, conn *pgx.Conn, schema string) (func(), error) {
	small, err := logIsSmall(ctx, conn, schema)
	if err != nil || small {
		return func() {}, err
	}
	return migrationLock(ctx, conn)
}

// migrationLock takes the lock every orb-sync migration runs under, polling
// with pg_try_advisory_lock rather than waiting in pg_advisory_lock. A
// session blocked in a statement holds a snapshot, and CREATE INDEX
// CONCURRENTLY (in the holder's migration) waits for every older snapshot
// in the database: a blocked waiter and the builder would deadlock. Polling
// sessions hold a snapshot only for an instant. tern's own (blocking) lock
// is then never contended among orb-sync processes. The key is the same for
// every schema because tern's is too.
func migrationLock(ctx context.Context, conn *pgx.Conn) (func(), error) {
	key := LockKey("orb-sync:migrate")
	ctx, cancel := context.WithTimeout(ctx, migrationLockWait)
	defer cancel()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "select pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting %s for another process's migrations (a replica migrating a large log?): %w", migrationLockWait, ctx.Err())
			}
			return nil, fmt.Errorf("taking the migration lock: %w", err)
		}
		if got {
			return func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock($1)", key) }, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting %s for another process's migrations (a replica migrating a large log?): %w", migrationLockWait, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// MigrateTo moves schema to version, up or down; 0 removes everything.
func MigrateTo(ctx context.Context, conn *pgx.Conn, schema string, version int32) error {
	m, err := newMigrator(ctx, conn, schema)
	if err != nil {
		return err
	}
	unlock, err := migrationLockIfLarge(ctx, conn, schema)
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.MigrateTo(ctx, version); err != nil {
		return fmt.Errorf("migrating schema %s to version %d: %w", schema, version, err)
	}
	return nil
}

// LatestVersion is the version of the newest embedded migration.
func LatestVersion() int32 {
	names, err := migrate.FindMigrations(Migrations())
	if err != nil {
		panic(err) // Checked by tests: the embedded set is fixed at build time.
	}
	return int32(len(names))
}

// ErrSchemaBehind is returned by CheckVersion when migrations are pending.
var ErrSchemaBehind = errors.New("database schema is behind this binary")

// Querier is what CheckVersion needs: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CheckVersion reports whether schema is at the version this binary expects.
func CheckVersion(ctx context.Context, db Querier, schema string) error {
	var version int32
	table := pgx.Identifier{schema, versionTableName}.Sanitize()
	if err := db.QueryRow(ctx, "select version from "+table).Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if want := LatestVersion(); version < want {
		return fmt.Errorf("%w: at version %d, want %d", ErrSchemaBehind, version, want)
	}
	return nil
}
