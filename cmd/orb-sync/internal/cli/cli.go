// Package cli implements the orb-sync commands. It is the only place that
// reads flags and environment variables; everything else takes Config
// structs. It parses configuration, wires the components the other
// packages own (serve: a run group, rungroup.go), guards the admin
// endpoints with ADMIN_TOKEN and draws progress on a terminal; the work
// itself, admin handlers included, lives in the packages that own it.
// Tests drive it through Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what commands share: output streams and the getenv used
// for configuration (replaceable in tests).
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() map[string]command {
	return map[string]command{
		"serve":          {"receive webhooks and keep the projections up to date", runServe},
		"migrate":        {"apply pending database migrations and exit", runMigrate},
		"backfill":       {"read existing Orb objects into the event log as snapshots (resumable)", runBackfill},
		"repair":         {"recover webhook events Orb could not deliver, from GET /webhook_events", runRepair},
		"loadgen":        {"send realistic signed webhooks to a local orb-sync and report throughput", runLoadgen},
		"local-postgres": {"print the URL of a local PostgreSQL, starting a throwaway one if none runs", runLocalPostgres},
		"version":        {"print the version, commit and schema version", runVersion},
		"healthcheck":    {"exit 0 when this host's serve is ready (Docker HEALTHCHECK)", runHealthcheck},
		"body":           {"print the exact bytes Orb sent for an event (what its signature covers)", runBody},
		"status":         {"show each projection's checkpoint, lag and dead letters", runStatus},
		"deadletters":    {"list dead-lettered events, or retry them once their cause is fixed", runDeadLetters},
		"reproject":      {"rebuild tables from the whole event log while the service runs, swapping each in when complete", runReproject},
		"verify":         {"recompute tables from the event log and report rows that differ from the live tables", runVerify},
		"history":        {"print one entity's timeline: every event that touched it and the fields it changed", runHistory},
		"snapshot":       {"freeze every table as of a time or log position into a new read-only schema", runSnapshot},
		"audit":          {"audit verify-signatures: re-check the stored HMAC of every stored webhook", runAudit},
		"export":         {"write the event log as NDJSON (byte-exact bodies, headers, positions) to stdout", runExport},
		"import":         {"load an exported log into an empty schema and rebuild every table", runImport},
	}
}

// errUsage marks errors caused by how the command was called (exit code 2).
var errUsage = errors.New("usage")

// Main runs the command named by args[0] and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return mainWithEnv(ctx, args, &environment{stdout: stdout, stderr: stderr, getenv: osGetenv})
}

func mainWithEnv(ctx context.Context, args []string, env *environment) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "orb-sync: unknown command %q\n\n", args[0])
		usage(env.stderr, cmds)
		return 2
	}
	err := cmd.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "orb-sync %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(env.stderr, "orb-sync %s: %v\n", args[0], err)
		var exit exitCodeError
		if errors.As(err, &exit) {
			return exit.code
		}
		return 1
	}
}

// exitCodeError lets a command choose its exit code (e.g. verify: 3 on a
// difference).
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: orb-sync COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, name := range names {
		fmt.Fprintf(w, "  %-15s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'orb-sync COMMAND -h' for a command's flags. Every flag can also be set by the environment variable shown in its help.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(env *environment, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("orb-sync "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, allowArgs bool) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if !allowArgs && fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %s", errUsage, strings.Join(fs.Args(), " "))
	}
	return nil
}

// Run is main: it runs args with the process's streams, cancelled by
// SIGINT or SIGTERM, and returns the exit code.
func Run(args []string) int {
	ctx, stop := signalContext(os.Stderr)
	defer stop()
	return Main(ctx, args, os.Stdout, os.Stderr)
}
