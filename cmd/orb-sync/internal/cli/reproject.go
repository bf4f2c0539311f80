package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orb-sync/orb-sync/projector"
)

// reprojectLogEvery is how often progress is logged when stdout is not a
// terminal (on a terminal, a progress line is redrawn instead).
const reprojectLogEvery = 10 * time.Second

type reprojectSettings struct {
	db           dbSettings
	all          *bool
	chunkSize    *int
	lockTimeout  *time.Duration
	noMigrate    *bool
	logLevel     *string
	logLevelSet  bool
	logFormat    *string
	settingsErrs []error
}

func addReprojectSettings(fs *flag.FlagSet, env *environment) *reprojectSettings {
	s := &reprojectSettings{db: addDBSettings(fs, env)}
	s.all = fs.Bool("all", false, "rebuild every table")
	s.chunkSize = intSetting(fs, env, setting{"chunk-size", "REBUILD_CHUNK_SIZE"}, 2_000_000,
		"most log events folded into the new table per transaction", &s.settingsErrs)
	s.lockTimeout = durationSetting(fs, env, setting{"lock-timeout", "REBUILD_LOCK_TIMEOUT"}, 2*time.Second,
		"how long the swap waits for a lock before retrying (readers queue behind a waiting swap)", &s.settingsErrs)
	s.noMigrate = fs.Bool("no-migrate", env.getenv("NO_MIGRATE") == "true", "don't apply migrations first (env NO_MIGRATE=true)")
	s.logLevelSet = env.getenv("LOG_LEVEL") != ""
	s.logLevel = stringSetting(fs, env, setting{"log-level", "LOG_LEVEL"}, "info", "debug, info, warn or error (on a terminal, warn unless set)")
	s.logFormat = stringSetting(fs, env, setting{"log-format", "LOG_FORMAT"}, "json", "json or text")
	return s
}

func (s *reprojectSettings) validate(fs *flag.FlagSet) ([]projector.Projection, error) {
	errs := s.validateRebuild()
	if *s.all == (fs.NArg() > 0) {
		errs = append(errs, fmt.Errorf("%w: name the tables to rebuild, or give --all", errUsage))
	}
	list, err := projector.ProjectionsNamed(fs.Args())
	if err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", errUsage, err))
	}
	return list, errors.Join(errs...)
}

// validateRebuild checks the settings every rebuild needs.
func (s *reprojectSettings) validateRebuild() []error {
	errs := append([]error(nil), s.settingsErrs...)
	if err := s.db.validate(); err != nil {
		errs = append(errs, err)
	}
	if *s.chunkSize < 1 {
		errs = append(errs, fmt.Errorf("--chunk-size=%d must be positive", *s.chunkSize))
	}
	if *s.lockTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("--lock-timeout=%s must be at least 1ms", *s.lockTimeout))
	}
	if _, err := newLogger(nil, *s.logLevel, *s.logFormat); err != nil {
		errs = append(errs, err)
	}
	return errs
}

func runReproject(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "reproject")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orb-sync reproject [flags] --all | TABLE...\n\n"+
			"Rebuilds tables from the whole event log while the service keeps running: each into a new table,\n"+
			"swapped in when complete. Cancelling leaves the live tables untouched.\nTables: %s\n\nFlags:\n",
			strings.Join(tableNames(), ", "))
		fs.PrintDefaults()
	}
	s := addReprojectSettings(fs, env)
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	list, err := s.validate(fs)
	if err != nil {
		return err
	}
	onTerminal := isTerminal(env.stdout)
	level := *s.logLevel
	if onTerminal && !s.logLevelSet && !flagSet(fs, "log-level") {
		level = "warn" // The progress line shows progress; logs would break it.
	}
	logger, _ := newLogger(env.stderr, level, *s.logFormat)

	pool, err := openPool(ctx, s.db, "reproject", 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if !*s.noMigrate {
		if err := migrate(ctx, pool, *s.db.schema); err != nil {
			return err
		}
	}
	tracker := projector.NewRebuildTracker(list)
	rebuilder, err := projector.NewRebuilder(pool, projector.RebuildConfig{
		Schema: *s.db.schema, ChunkSize: int64(*s.chunkSize), LockTimeout: *s.lockTimeout,
		Logger: logger, OnProgress: tracker.Update,
	})
	if err != nil {
		return err
	}
	stop := reportRebuild(ctx, env.stdout, onTerminal, tracker, logger)
	start := time.Now()
	results, err := rebuilder.Rebuild(ctx, names(list)...)
	stop()
	writeRebuildResults(env.stdout, results, time.Since(start))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted; the live tables are untouched (tables already swapped in stay rebuilt): %w", err)
	}
	return err
}

// reportRebuild shows progress until the returned function is called: a
// redrawn line on a terminal, else a log line every reprojectLogEvery.
func reportRebuild(ctx context.Context, w io.Writer, onTerminal bool, t *projector.RebuildTracker, logger *slog.Logger) func() {
	stop, done := make(chan struct{}), make(chan struct{})
	if onTerminal {
		go drawRebuild(t, w, stop, done)
	} else {
		go func() {
			defer close(done)
			tick := time.NewTicker(reprojectLogEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					logRebuildProgress(ctx, logger, t.Summary())
				}
			}
		}()
	}
	return func() { close(stop); <-done }
}

func logRebuildProgress(ctx context.Context, logger *slog.Logger, s projector.RebuildSummary) {
	logger.InfoContext(ctx, "rebuild progress", slog.Int("tables_done", s.TablesDone), slog.Int("tables_total", s.TablesTotal),
		slog.String("table", s.Current), slog.String("phase", s.Phase), slog.Int64("events_done", s.EventsDone),
		slog.Int64("events_total", s.EventsTotal), slog.Float64("events_per_second", s.EventsPerSec),
		slog.Float64("eta_seconds", s.ETASeconds))
}

// writeRebuildResults prints one line per table swapped in and the totals.
// Every table reads the whole log, so the throughput is given both per log
// event (the log's events over the whole run) and per table-event.
func writeRebuildResults(w io.Writer, results []projector.RebuildResult, took time.Duration) {
	if len(results) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tLOG EVENTS\tFOLDED\tROWS\tCHECKPOINT\tDEAD LETTERS\tFILL\tSWAP\tSWAP TRIES\tTOOK")
	var head, sum int64
	for _, r := range results {
		head = max(head, r.Checkpoint)
		sum += r.Checkpoint
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", r.Table, r.Head, r.Events, r.Rows, r.Checkpoint,
			len(r.DeadLetters), r.Fill.Round(time.Millisecond), r.Swap.Round(time.Millisecond), r.SwapAttempts, r.Took.Round(time.Millisecond))
	}
	_ = tw.Flush()
	secs := took.Seconds()
	fmt.Fprintf(w, "rebuilt %d tables from a log of %d events in %s: %.0f log events/s (%.0f table-events/s)\n",
		len(results), head, took.Round(time.Millisecond), float64(head)/secs, float64(sum)/secs)
}

func tableNames() []string {
	var out []string
	for _, p := range projector.Projections() {
		out = append(out, p.Table)
	}
	return out
}

func names(list []projector.Projection) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name
	}
	return out
}
