package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/logfile"
	"github.com/orb-sync/orb-sync/projector"
)

// logfileProgressEvery is how many events pass between progress updates.
const logfileProgressEvery = 5000

// optionalTime parses a --since/--until style flag; empty is unset.
func optionalTime(name, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := eventlog.ParseSince(v, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: %w", errUsage, name, err)
	}
	return &t, nil
}

func runExport(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "export")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: orb-sync export [flags] > log.ndjson\n\n"+
			"Writes the event log to stdout as newline-delimited JSON, one event a line in log order: position, ids,\n"+
			"Orb and receive times, source, resource, signing headers and the body byte for byte (base64 of the\n"+
			"zstd frame the log stores; --plain-bodies: of the body as received). 'orb-sync import' loads either\n"+
			"into another database or schema. Reads one consistent snapshot.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	db := addDBSettings(fs, env)
	sinceFlag := fs.String("since", "", "only events created (Orb time) at or after: RFC 3339, a date or an age (7d)")
	untilFlag := fs.String("until", "", "only events created (Orb time) before this time")
	plain := fs.Bool("plain-bodies", false, "write each body as received (format version 1: ~10x larger, slower), not as stored")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	since, err := optionalTime("since", *sinceFlag)
	if err != nil {
		return err
	}
	until, err := optionalTime("until", *untilFlag)
	if err != nil {
		return err
	}
	if err := db.validate(); err != nil {
		return err
	}
	if isTerminal(env.stdout) {
		return fmt.Errorf("%w: stdout is a terminal; redirect it to a file (orb-sync export > log.ndjson)", errUsage)
	}
	pool, err := openPool(ctx, db, "export", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	bar := newCountBar(env.stderr, "exported")
	p, err := logfile.Export(ctx, pool, env.stdout, logfile.ExportConfig{Schema: *db.schema, Since: since, Until: until,
		PlainBodies: *plain, OnProgress: bar.update, ProgressEvery: logfileProgressEvery})
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "exported %d events (%d bytes) in %s\n", p.Events, p.Bytes, time.Since(p.Started).Round(time.Millisecond))
	return nil
}

func runImport(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "import")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: orb-sync import [flags] FILE   (- reads stdin)\n\n"+
			"Loads a file written by 'orb-sync export' into the event log of DATABASE_SCHEMA, which must be empty\n"+
			"(migrations are applied first), keeping every position, id, time, source, signing header and body\n"+
			"byte; then rebuilds every table from it. Nothing is imported if any line is refused.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	s := addReprojectSettings(fs, env)
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: name one file to import (- for stdin)", errUsage)
	}
	if err := errors.Join(s.validateRebuild()...); err != nil {
		return err
	}
	list := projector.Projections()
	in, closeIn, err := openInput(env, fs.Arg(0))
	if err != nil {
		return err
	}
	defer closeIn()
	logger, _ := newLogger(env.stderr, *s.logLevel, *s.logFormat)
	if isTerminal(env.stdout) && !s.logLevelSet {
		logger, _ = newLogger(env.stderr, "warn", *s.logFormat)
	}
	pool, err := openPool(ctx, s.db, "import", 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if !*s.noMigrate {
		if err := migrate(ctx, pool, *s.db.schema); err != nil {
			return err
		}
	}
	bar := newCountBar(env.stdout, "imported")
	p, err := logfile.Import(ctx, pool, in, logfile.ImportConfig{Schema: *s.db.schema, OnProgress: bar.update,
		ProgressEvery: logfileProgressEvery})
	bar.finish()
	if err != nil {
		if errors.Is(err, logfile.ErrNotEmpty) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return fmt.Errorf("nothing imported: %w", err)
	}
	fmt.Fprintf(env.stdout, "imported %d events in %s; rebuilding every table\n", p.Events, time.Since(p.Started).Round(time.Millisecond))
	tracker := projector.NewRebuildTracker(list)
	rebuilder, err := projector.NewRebuilder(pool, projector.RebuildConfig{Schema: *s.db.schema,
		ChunkSize: int64(*s.chunkSize), LockTimeout: *s.lockTimeout, Logger: logger, OnProgress: tracker.Update})
	if err != nil {
		return err
	}
	stop := reportRebuild(ctx, env.stdout, isTerminal(env.stdout), tracker, logger)
	start := time.Now()
	results, err := rebuilder.Rebuild(ctx)
	stop()
	writeRebuildResults(env.stdout, results, time.Since(start))
	if err != nil {
		return fmt.Errorf("the log is imported; rebuilding the tables failed (run 'orb-sync reproject --all'): %w", err)
	}
	return nil
}

func openInput(env *environment, name string) (io.Reader, func(), error) {
	if name == "-" {
		return os.Stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return f, func() { _ = f.Close() }, nil
}
