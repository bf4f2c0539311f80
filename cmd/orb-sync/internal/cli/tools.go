package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

func runVersion(_ context.Context, env *environment, _ []string) error {
	fmt.Fprintf(env.stdout, "orb-sync %s\ncommit %s\nschema version %d\n", buildVersion(), buildCommit(), orbsql.LatestVersion())
	return nil
}

func runLocalPostgres(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "local-postgres")
	dir := fs.String("dir", filepath.Join(os.TempDir(), "orb-sync-postgres"), "where a throwaway cluster is created if none runs")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	url, err := pglocal.Ensure(ctx, *dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, url)
	return nil
}

func runLoadgen(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "loadgen")
	fill := fs.Int("fill", 0, "instead of sending HTTP requests, append this many generated events straight to the log at DATABASE_URL (for benchmarks)")
	db := addDBSettings(fs, env)
	url := fs.String("url", "http://127.0.0.1:8080/webhooks", "webhook endpoint (loopback only)")
	secret := secretSetting(fs, env, setting{"webhook-secret", "ORB_WEBHOOK_SECRET"}, "secret to sign with (the first of a comma-separated list)")
	concurrency := fs.Int("concurrency", 8, "concurrent senders")
	duration := fs.Duration("duration", 20*time.Second, "how long to send (0: until -requests are sent)")
	requests := fs.Int("requests", 0, "stop after this many requests (0: no limit)")
	entities := fs.Int("entities", 1000, "distinct customers/subscriptions/invoices the events are about")
	mix := fs.String("mix", "customer=1,subscription=1,invoice=1", "relative weights of customer.edited (~1 KB), subscription.edited (~54 KB), invoice.issued (~4 KB)")
	reference := fs.Bool("reference", false, "run issue 10's workload: create -entities (default 10000) of each kind, then update random ones for -duration with each sender count of -phases (default 1,8,32)")
	phases := fs.String("phases", "1,8,32", "with -reference: sender counts of the measured phases")
	summarize := fs.String("summarize", "", "print a table of the phase lines in this file (written by eventlog/webhook/webhooktest/reference.sh) and exit")
	servePID := fs.Int("serve-pid", 0, "with -reference: measure this process's memory and its PostgreSQL backends' CPU (Linux; needs DATABASE_URL, and DATABASE_SCHEMA for the lag)")
	lag := fs.Bool("lag", true, "with -serve-pid: also sample the projection lag of DATABASE_SCHEMA's log (false when the process under load is not orb-sync, e.g. another implementation measured the same way)")
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if *fill > 0 {
		return fillLog(ctx, env, db, *fill, *entities)
	}
	if *summarize != "" {
		f, err := os.Open(*summarize)
		if err != nil {
			return err
		}
		defer f.Close()
		return webhooktest.Summarize(f, env.stdout)
	}
	if *reference {
		if !flagSet(fs, "entities") {
			*entities = 10000
		}
		return runReference(ctx, env, db, referenceRun{url: *url, secret: *secret, entities: *entities,
			phases: *phases, duration: *duration, servePID: *servePID, lag: *lag})
	}
	weights, err := parseMix(*mix)
	if err != nil {
		return fmt.Errorf("%w: -mix: %w", errUsage, err)
	}
	secrets := splitSecrets(*secret)
	if len(secrets) == 0 {
		return fmt.Errorf("%w: ORB_WEBHOOK_SECRET (or -webhook-secret) is required to sign requests", errUsage)
	}
	report, err := webhooktest.Run(ctx, webhooktest.Config{
		URL: *url, Secret: secrets[0], Concurrency: *concurrency,
		Duration: *duration, Requests: *requests, Entities: *entities, Mix: weights,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "concurrency=%d %s\n", *concurrency, report)
	return nil
}

func parseMix(s string) (map[webhooktest.Kind]int, error) {
	out := map[webhooktest.Kind]int{}
	for part := range strings.SplitSeq(s, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		var w int
		if _, err := fmt.Sscanf(weight, "%d", &w); !ok || err != nil || w < 0 {
			return nil, fmt.Errorf("%q is not kind=weight", part)
		}
		kind := webhooktest.Kind(name)
		switch kind {
		case webhooktest.Customer, webhooktest.Subscription, webhooktest.Invoice:
			out[kind] = w
		default:
			return nil, fmt.Errorf("unknown kind %q (customer, subscription, invoice)", name)
		}
	}
	return out, nil
}

// fillLog appends n generated events directly, printing progress.
func fillLog(ctx context.Context, env *environment, db dbSettings, n, entities int) error {
	if err := db.validate(); err != nil {
		return err
	}
	pool, err := openPool(ctx, db, "loadgen", 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool, *db.schema); err != nil {
		return err
	}
	appender, err := eventlog.NewAppender(pool, eventlog.AppenderConfig{Schema: *db.schema, WriteTimeout: time.Minute})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "loadgen: appending %d generated events to %s.events (this adds to the log; use a scratch schema)\n", n, *db.schema)
	last := time.Now()
	err = webhooktest.Fill(ctx, appender, n, entities, func(p webhooktest.FillProgress) {
		if time.Since(last) > 5*time.Second || p.Appended == n {
			last = time.Now()
			fmt.Fprintf(env.stderr, "loadgen: %d/%d events, %.0f events/s\n", p.Appended, n, float64(p.Appended)/p.Elapsed.Seconds())
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "appended %d events\n", n)
	return nil
}

// referenceRun is what `loadgen -reference` was asked for.
type referenceRun struct {
	url, secret, phases string
	entities, servePID  int
	duration            time.Duration
	lag                 bool // sample the projection lag of the configured schema
}

// runReference runs webhooktest.RunWorkload, printing one line per phase.
func runReference(ctx context.Context, env *environment, db dbSettings, r referenceRun) error {
	w := webhooktest.Workload{URL: r.url, Entities: r.entities, PhaseDuration: r.duration}
	if secrets := splitSecrets(r.secret); len(secrets) > 0 {
		w.Secret = secrets[0]
	} else {
		return fmt.Errorf("%w: ORB_WEBHOOK_SECRET (or -webhook-secret) is required to sign requests", errUsage)
	}
	for part := range strings.SplitSeq(r.phases, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return fmt.Errorf("%w: -phases: %q is not a sender count", errUsage, part)
		}
		w.Phases = append(w.Phases, n)
	}
	if r.servePID > 0 {
		if err := db.validate(); err != nil {
			return fmt.Errorf("%w: -serve-pid reads pg_stat_activity: %w", errUsage, err)
		}
		pool, err := openPool(ctx, db, "loadgen", 2)
		if err != nil {
			return err
		}
		defer pool.Close()
		w.Probe = webhooktest.Probe{ServePID: r.servePID, DB: pool}
		if r.lag {
			w.Probe.Schema = *db.schema
		}
	}
	_, err := webhooktest.RunWorkload(ctx, w, func(p webhooktest.PhaseReport) { fmt.Fprintln(env.stdout, p) })
	return err
}
