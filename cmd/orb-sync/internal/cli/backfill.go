package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync"
)

// backfillSettings are the flags of the backfill command.
type backfillSettings struct {
	db              dbSettings
	api             apiSettings
	since           *string
	restart, status *bool
	concurrency     *int
	noMigrate       *bool
	logLevel        *string
	logLevelSet     bool
	logFormat       *string
	settingsErrs    []error
}

func addBackfillSettings(fs *flag.FlagSet, env *environment) *backfillSettings {
	s := &backfillSettings{db: addDBSettings(fs, env)}
	s.api = addAPISettings(fs, env, &s.settingsErrs)
	s.since = fs.String("since", "", "read only objects created (invoices: dated) at or after this time: RFC 3339, a date (2025-01-08) or an age (7d, 36h); items, coupons and prices are always read whole")
	s.restart = fs.Bool("restart", false, "discard stored progress and read every entity again, also complete ones")
	s.status = fs.Bool("status", false, "print the stored progress of every entity and exit")
	s.concurrency = fs.Int("concurrency", 3, "entities read at once (pages of one entity are read in order)")
	s.noMigrate = fs.Bool("no-migrate", env.getenv("NO_MIGRATE") == "true", "don't apply migrations first (env NO_MIGRATE=true)")
	s.logLevelSet = env.getenv("LOG_LEVEL") != ""
	s.logLevel = stringSetting(fs, env, setting{"log-level", "LOG_LEVEL"}, "info", "debug, info, warn or error (on a terminal, warn unless set)")
	s.logFormat = stringSetting(fs, env, setting{"log-format", "LOG_FORMAT"}, "json", "json or text")
	return s
}

func runBackfill(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "backfill")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orb-sync backfill [flags] [ENTITY...]\n\nReads Orb's API into the event log as snapshot events; a killed run resumes where it stopped.\nEntities (default: all): %s\n\nFlags:\n",
			strings.Join(orbsync.EntityNames(), ", "))
		fs.PrintDefaults()
	}
	s := addBackfillSettings(fs, env)
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	entities, since, err := s.validate(fs)
	if err != nil {
		return err
	}
	bar := newProgressBar(env.stdout, entities)
	level := *s.logLevel
	if bar != nil && !s.logLevelSet && !flagSet(fs, "log-level") {
		level = "warn" // The bar shows progress; logs would break its line.
	}
	logger, _ := newLogger(env.stderr, level, *s.logFormat)

	pool, err := openPool(ctx, s.db, "backfill", int32(*s.concurrency+4))
	if err != nil {
		return err
	}
	defer pool.Close()
	if !*s.noMigrate {
		if err := migrate(ctx, pool, *s.db.schema); err != nil {
			return err
		}
	}
	client, err := newOrbClient(s.api, logger)
	if err != nil {
		return err
	}
	runner, err := orbsync.New(pool, client, orbsync.Config{Schema: *s.db.schema, Logger: logger})
	if err != nil {
		return err
	}
	if *s.status {
		return printProgress(ctx, env.stdout, runner)
	}
	opts := orbsync.Options{Entities: entities, Since: since, Restart: *s.restart, Concurrency: *s.concurrency}
	if bar != nil {
		opts.OnProgress = bar.update
		bar.start()
	}
	sum, err := runner.Backfill(ctx, opts)
	bar.finish()
	if len(sum.Entities) > 0 {
		sum.WriteTable(env.stdout)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return errors.New("interrupted; progress is saved, run the same command again to resume")
	}
	return err
}

// validate checks the settings and resolves the entities and --since.
func (s *backfillSettings) validate(fs *flag.FlagSet) ([]orbsync.Entity, time.Time, error) {
	errs := append([]error(nil), s.settingsErrs...)
	if err := s.db.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.api.validate(!*s.status)...)
	if *s.concurrency < 1 || *s.concurrency > 16 {
		errs = append(errs, fmt.Errorf("--concurrency=%d must be between 1 and 16", *s.concurrency))
	}
	if _, err := newLogger(nil, *s.logLevel, *s.logFormat); err != nil {
		errs = append(errs, err)
	}
	entities, err := orbsync.ParseEntities(fs.Args())
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", errUsage, err))
	}
	var since time.Time
	if *s.since != "" {
		if since, err = eventlog.ParseSince(*s.since, time.Now()); err != nil {
			errs = append(errs, fmt.Errorf("%w: --since: %w", errUsage, err))
		}
	}
	return entities, since, errors.Join(errs...)
}

// flagSet reports whether name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// printProgress prints backfill_progress as a table.
func printProgress(ctx context.Context, w io.Writer, runner *orbsync.Runner) error {
	rows, err := runner.ListProgress(ctx)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(w, "No backfill has run on this schema.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tSTATE\tSINCE\tPAGES\tFETCHED\tSTORED\tDUPLICATES\tERRORS\tUPDATED\tLAST ERROR")
	for _, p := range rows {
		state, since, lastErr := "unfinished", "all", ""
		if p.Done {
			state = "done"
		}
		if p.Since != nil {
			since = p.Since.UTC().Format(time.RFC3339)
		}
		if p.LastError != nil {
			lastErr = *p.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Entity, state, since, p.Pages, p.Fetched, p.Stored,
			p.Duplicates, p.Errors, p.UpdatedAt.UTC().Format(time.RFC3339), lastErr)
	}
	return tw.Flush()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
