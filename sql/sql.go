// Package sql owns orb-sync's database schema: the tern migrations that
// create the event log and the projection tables, embedded in the binary, and
// the functions that apply them. Every layer may import it, so it also holds
// the few helpers all of them need to write SQL text (text.go): advisory
// lock keys and quoted literals.
//
// Every object lives in one schema (DATABASE_SCHEMA, default "orb"), so two
// Orb accounts can share a database. Migrations are templates: {{.schema}} is
// the quoted schema name and {{.schema_name}} the bare one, for literals.
package sql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"

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
	return m, nil
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
// several processes at once: tern serializes them with an advisory lock and
// the later ones find nothing to do.
func Migrate(ctx context.Context, conn *pgx.Conn, schema string) error {
	m, err := newMigrator(ctx, conn, schema)
	if err != nil {
		return err
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating schema %s: %w", schema, err)
	}
	return nil
}

// MigrateTo moves schema to version, up or down; 0 removes everything.
func MigrateTo(ctx context.Context, conn *pgx.Conn, schema string, version int32) error {
	m, err := newMigrator(ctx, conn, schema)
	if err != nil {
		return err
	}
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
