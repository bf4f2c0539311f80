package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/orb-sync/orb-sync/projector"
)

// verifyDiffersExit is verify's exit code when a table differs from the
// log (1 stays for errors, 2 for usage).
const verifyDiffersExit = 3

func runVerify(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "verify")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: orb-sync verify [flags] [TABLE...]\n\n"+
			"Recomputes tables (default: all) from the event log and compares them with the live tables, every row\n"+
			"and column, as of each table's checkpoint. Exits %d if any differs. Writes nothing.\nTables: %s\n\nFlags:\n",
			verifyDiffersExit, strings.Join(tableNames(), ", "))
		fs.PrintDefaults()
	}
	db := addDBSettings(fs, env)
	examples := fs.Int("examples", 10, "differing rows shown per table")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := parseFlags(fs, args, true); err != nil {
		return err
	}
	if err := db.validate(); err != nil {
		return err
	}
	if _, err := projector.ProjectionsNamed(fs.Args()); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	pool, err := openPool(ctx, db, "verify", 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	results, err := projector.Verify(ctx, pool, *db.schema, fs.Args(), *examples)
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		writeVerifyResults(env.stdout, results)
	}
	if err != nil {
		return err
	}
	var bad []string
	for _, r := range results {
		if !r.OK() {
			bad = append(bad, r.Table)
		}
	}
	if len(bad) > 0 {
		return exitCodeError{code: verifyDiffersExit, err: fmt.Errorf("%s differ from the log; 'orb-sync reproject %s' rebuilds them",
			strings.Join(bad, ", "), strings.Join(bad, " "))}
	}
	return nil
}

func writeVerifyResults(w io.Writer, results []projector.VerifyResult) {
	for _, r := range results {
		status := "ok"
		if !r.OK() {
			status = fmt.Sprintf("%d rows differ", r.Differences)
		}
		fmt.Fprintf(w, "%-30s %8d rows at log position %d: %s\n", r.Table, r.Rows, r.Checkpoint, status)
		if r.StoredVersion != r.Version {
			fmt.Fprintf(w, "  built by projection version %d, this binary has %d: differences are expected until it is rebuilt\n",
				r.StoredVersion, r.Version)
		}
		for _, d := range r.Examples {
			fmt.Fprintf(w, "  %s %s\n", r.Table, d)
		}
		if extra := r.Differences - int64(len(r.Examples)); extra > 0 {
			fmt.Fprintf(w, "  … and %d more\n", extra)
		}
		for _, dl := range r.DeadLetters {
			fmt.Fprintf(w, "  event %d (%s) does not apply and was never set aside: %s\n", dl.Seq, dl.EventID, dl.Error)
		}
	}
}
