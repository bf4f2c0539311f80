package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/projector"
)

// historyValueMax bounds a value shown on a terminal line.
const historyValueMax = 80

func runHistory(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "history")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orb-sync history [flags] TABLE ID\n\n"+
			"Prints one entity's timeline, oldest first: each event that touched it, with the fields it changed\n"+
			"(old → new), Orb's previous_attributes, and events that changed nothing.\nTables: %s\n\nFlags:\n",
			strings.Join(projector.VersionedTables(), ", "))
		fs.PrintDefaults()
	}
	db := addDBSettings(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return fmt.Errorf("%w: give a table and an id, e.g. orb-sync history invoices inv_123", errUsage)
	}
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "history", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	list, err := projector.Changes(ctx, pool, *db.schema, fs.Arg(0), fs.Arg(1))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		return fmt.Errorf("no events about %s %s", fs.Arg(0), fs.Arg(1))
	}
	writeTimeline(env.stdout, list)
	return nil
}

func writeTimeline(w io.Writer, list []projector.Change) {
	for _, c := range list {
		what := "no change"
		if c.Changed {
			what = fmt.Sprintf("%d fields changed", len(c.Fields))
		}
		fmt.Fprintf(w, "%s  %s  %s (%s, seq %d): %s\n", c.CreatedAt.UTC().Format(time.RFC3339Nano), c.EventType, c.EventID,
			c.Source, c.Seq, what)
		fields := make([]string, 0, len(c.Fields))
		for f := range c.Fields {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			fmt.Fprintf(w, "    %s: %s → %s\n", f, shorten(c.Fields[f].Old), shorten(c.Fields[f].New))
		}
		if len(c.PreviousAttributes) > 0 && string(c.PreviousAttributes) != "null" {
			fmt.Fprintf(w, "    (Orb previous_attributes: %s)\n", shorten(c.PreviousAttributes))
		}
	}
}

func shorten(v json.RawMessage) string {
	s := string(v)
	if s == "" {
		s = "null"
	}
	if len(s) > historyValueMax {
		return s[:historyValueMax] + "…"
	}
	return s
}
