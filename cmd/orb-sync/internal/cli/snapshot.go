package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector"
)

func runSnapshot(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "snapshot")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: orb-sync snapshot --as-of TIME | --at-seq N --into SCHEMA [flags]\n\n"+
			"Freezes every table as it stood at a time (Orb time, from the history tables) or a log position\n"+
			"(folded from the log) into a new schema, e.g. the books at quarter close. The new schema is\n"+
			"read-only by grants (writes revoked from everyone, the owner included) and has a _snapshot table\n"+
			"saying what it holds.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	db := addDBSettings(fs, env)
	asOf := fs.String("as-of", "", "time: RFC 3339 (2025-06-30T23:59:59Z), a date (2025-07-01 = its midnight UTC) or an age (7d)")
	atSeq := fs.Int64("at-seq", 0, "log position")
	into := fs.String("into", "", "new schema to create (required)")
	readers := fs.String("readers", "", "comma-separated roles to grant SELECT on the snapshot")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	cfg := projector.SnapshotConfig{Schema: *db.schema, Into: *into, AtSeq: *atSeq}
	var errs []error
	if *asOf != "" {
		t, err := eventlog.ParseSince(*asOf, time.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: --as-of: %w", errUsage, err))
		}
		cfg.AsOf = &t
	}
	if (*asOf == "") == (*atSeq == 0) {
		errs = append(errs, fmt.Errorf("%w: give --as-of or --at-seq (one of them)", errUsage))
	}
	if *into == "" {
		errs = append(errs, fmt.Errorf("%w: --into SCHEMA is required", errUsage))
	}
	for _, r := range strings.Split(*readers, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Readers = append(cfg.Readers, r)
		}
	}
	if err := db.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "snapshot", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	res, err := projector.Snapshot(ctx, pool, cfg)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, t := range res.Tables {
		fmt.Fprintf(tw, "%s.%s\t%d\n", res.Into, t.Table, t.Rows)
	}
	_ = tw.Flush()
	fmt.Fprintf(env.stdout, "snapshot %s taken in %s (log head %d); read-only\n", res.Into, time.Since(start).Round(time.Millisecond), res.Head)
	return nil
}
