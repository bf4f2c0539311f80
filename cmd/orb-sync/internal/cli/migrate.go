package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

func runMigrate(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "migrate")
	db := addDBSettings(fs, env)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "migrate", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool, *db.schema); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "schema %s is at version %d\n", *db.schema, orbsql.LatestVersion())
	return nil
}

// migrate applies pending migrations on one pooled connection (tern needs a
// single session for its advisory lock).
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	// No deadline on the migrations themselves: an index built concurrently
	// on a large log takes as long as it takes (orbsql.Migrate bounds the
	// wait for another replica's turn).
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring a connection to migrate: %w", err)
	}
	defer conn.Release()
	if err := orbsql.Migrate(ctx, conn.Conn(), schema); err != nil {
		return err
	}
	return nil
}
