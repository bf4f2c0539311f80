package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync"
)

func runRepair(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "repair")
	var settingsErrs []error
	db := addDBSettings(fs, env)
	api := addAPISettings(fs, env, &settingsErrs)
	since := fs.String("since", "", "read webhook events created at or after this time (required): RFC 3339, a date (2025-01-08) or an age (7d, 36h)")
	undelivered := fs.Bool("undelivered-only", false, "read only events Orb failed to deliver (cheaper); by default every event since --since is read")
	noMigrate := fs.Bool("no-migrate", env.getenv("NO_MIGRATE") == "true", "don't apply migrations first (env NO_MIGRATE=true)")
	logLevel := stringSetting(fs, env, setting{"log-level", "LOG_LEVEL"}, "info", "debug, info, warn or error")
	logFormat := stringSetting(fs, env, setting{"log-format", "LOG_FORMAT"}, "json", "json or text")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	errs := settingsErrs
	if err := db.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, api.validate(true)...)
	if _, err := newLogger(nil, *logLevel, *logFormat); err != nil {
		errs = append(errs, err)
	}
	var from time.Time
	if *since == "" {
		errs = append(errs, fmt.Errorf("%w: --since is required, e.g. --since 2025-01-08 or --since 48h", errUsage))
	} else if t, err := eventlog.ParseSince(*since, time.Now()); err != nil {
		errs = append(errs, fmt.Errorf("%w: --since: %w", errUsage, err))
	} else {
		from = t
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logger, _ := newLogger(env.stderr, *logLevel, *logFormat)

	pool, err := openPool(ctx, db, "repair", 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if !*noMigrate {
		if err := migrate(ctx, pool, *db.schema); err != nil {
			return err
		}
	}
	client, err := newOrbClient(api, logger)
	if err != nil {
		return err
	}
	runner, err := orbsync.New(pool, client, orbsync.Config{Schema: *db.schema, Logger: logger})
	if err != nil {
		return err
	}
	rep, err := runner.Repair(ctx, orbsync.RepairOptions{Since: from, UndeliveredOnly: *undelivered})
	fmt.Fprintf(env.stdout, "Repair since %s: %s.\n", from.UTC().Format(time.RFC3339), rep)
	return err
}
