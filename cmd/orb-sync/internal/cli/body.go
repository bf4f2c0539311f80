package cli

import (
	"context"
	"fmt"

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
	body, err := eventlog.Body(ctx, pool, *db.schema, fs.Arg(0))
	if err != nil {
		return err
	}
	_, err = env.stdout.Write(body)
	return err
}
