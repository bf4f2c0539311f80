package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// runBody prints one event's body byte for byte: stored compressed
// (events.body_zstd), it cannot be read with SQL alone.
func runBody(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "body")
	db := addDBSettings(fs, env)
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: orb-sync body EVENT_ID", errUsage)
	}
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "body", 1)
	if err != nil {
		return err
	}
	defer pool.Close()
	var raw, compressed []byte
	err = pool.QueryRow(ctx, "select "+eventlog.BodyColumns+" from "+pgx.Identifier{*db.schema, "events"}.Sanitize()+
		" where event_id = $1", fs.Arg(0)).Scan(&raw, &compressed)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("no event %q in %s.events", fs.Arg(0), *db.schema)
	}
	if err != nil {
		return fmt.Errorf("reading event %s: %w", fs.Arg(0), err)
	}
	body, err := eventlog.DecodeBody(raw, compressed)
	if err != nil {
		return fmt.Errorf("event %s: %w", fs.Arg(0), err)
	}
	_, err = env.stdout.Write(body)
	return err
}
