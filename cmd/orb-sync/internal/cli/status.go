package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/orb-sync/orb-sync/projector"
)

func runStatus(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "status")
	db := addDBSettings(fs, env)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "status", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	st, err := projector.ReadStatus(ctx, pool, *db.schema)
	if err != nil {
		return err
	}
	dead, err := projector.ListDeadLetters(ctx, pool, *db.schema, false)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"status": st, "dead_letters": dead})
	}
	fmt.Fprintf(env.stdout, "log head: %d\n\n", st.Head)
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tCHECKPOINT\tLAG EVENTS\tLAG\tDEAD LETTERS\tVERSION\tUPDATED")
	for _, p := range st.Projections {
		version := fmt.Sprint(p.Version)
		if p.StoredVersion != p.Version {
			version = fmt.Sprintf("%d (table built by %d: rebuild pending)", p.Version, p.StoredVersion)
		}
		updated := "never"
		if !p.UpdatedAt.IsZero() {
			updated = p.UpdatedAt.UTC().Format(time.RFC3339)
		}
		lagEvents, lag := fmt.Sprint(p.LagEvents), (time.Duration(p.LagSeconds * float64(time.Second))).Round(time.Millisecond).String()
		if p.Paused {
			lagEvents, lag = "paused", "-"
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%s\t%s\n", p.Projection, p.Checkpoint, lagEvents, lag, p.DeadLetters, version, updated)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(dead) > 0 {
		fmt.Fprintf(env.stdout, "\nunresolved dead letters (fix the cause, then 'orb-sync deadletters retry'):\n")
		return printDeadLetters(env.stdout, dead)
	}
	return nil
}

// printDeadLetters writes dead letters as a table.
func printDeadLetters(out io.Writer, dead []projector.DeadLetter) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROJECTION\tSEQ\tEVENT\tTYPE\tRETRIES\tRESOLVED\tERROR")
	for _, d := range dead {
		resolved := "-"
		if d.ResolvedAt != nil {
			resolved = d.ResolvedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%s\t%s\n", d.Projection, d.Seq, d.EventID, d.EventType, d.Retries, resolved, d.Error)
	}
	return w.Flush()
}

func runDeadLetters(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "deadletters")
	db := addDBSettings(fs, env)
	all := fs.Bool("all", false, "list resolved dead letters too")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if err := db.validate(); err != nil {
		return err
	}
	rest := fs.Args()
	pool, err := openPool(ctx, db, "deadletters", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	switch {
	case len(rest) == 0:
		dead, err := projector.ListDeadLetters(ctx, pool, *db.schema, *all)
		if err != nil {
			return err
		}
		return printDeadLetters(env.stdout, dead)
	case rest[0] == "retry" && len(rest) <= 2:
		projection := ""
		if len(rest) == 2 {
			projection = rest[1]
		}
		res, err := projector.RetryDeadLetters(ctx, pool, *db.schema, projection)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "resolved %d, still failing %d\n", len(res.Resolved), len(res.Failed))
		for _, d := range res.Failed {
			fmt.Fprintf(env.stdout, "  %s seq %d (%s): %s\n", d.Projection, d.Seq, d.EventID, d.Error)
		}
		if len(res.Failed) > 0 {
			return exitCodeError{code: 1, err: fmt.Errorf("%d dead letters still fail", len(res.Failed))}
		}
		return nil
	default:
		return fmt.Errorf("%w: use 'deadletters [--all]' or 'deadletters retry [PROJECTION]'", errUsage)
	}
}
