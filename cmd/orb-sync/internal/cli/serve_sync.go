package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
	"github.com/orb-sync/orb-sync/projector/console"
)

// Defaults of serve's Orb API workers.
const (
	reconcileIntervalDefault = time.Hour
	repairIntervalDefault    = 15 * time.Minute
	repairLookbackDefault    = 24 * time.Hour
	refetchIntervalDefault   = 5 * time.Second
)

// syncSettings are serve's settings for reading Orb's API: the periodic
// reconcile, repair and refetch workers, and the admin endpoint that starts
// a backfill. All of it is off without ORB_API_KEY.
type syncSettings struct {
	api                                                       apiSettings
	reconcileEvery, repairEvery, repairLookback, refetchEvery *time.Duration
	repairUndeliveredOnly                                     *bool
	adminToken                                                *string
}

func addSyncSettings(fs *flag.FlagSet, env *environment, errs *[]error) *syncSettings {
	s := &syncSettings{api: addAPISettings(fs, env, errs)}
	s.reconcileEvery = durationSetting(fs, env, setting{"reconcile-interval", "ORB_RECONCILE_INTERVAL"}, reconcileIntervalDefault,
		"how often plans, metrics, items, coupons, prices and customers are listed whole and vanished customers marked (0: off)", errs)
	s.repairEvery = durationSetting(fs, env, setting{"repair-interval", "ORB_REPAIR_INTERVAL"}, repairIntervalDefault,
		"how often GET /webhook_events is read for events we lack (0: off)", errs)
	s.repairLookback = durationSetting(fs, env, setting{"repair-lookback", "ORB_REPAIR_LOOKBACK"}, repairLookbackDefault,
		"how far back each repair pass reads at least (after a stop: back to the last complete pass)", errs)
	s.repairUndeliveredOnly = fs.Bool("repair-undelivered-only", env.getenv("ORB_REPAIR_UNDELIVERED_ONLY") != "false",
		"periodic repair reads only events Orb failed to deliver (env ORB_REPAIR_UNDELIVERED_ONLY, default true)")
	s.refetchEvery = durationSetting(fs, env, setting{"refetch-interval", "ORB_REFETCH_INTERVAL"}, refetchIntervalDefault,
		"how often new log events are checked for objects to read again (0: off)", errs)
	s.adminToken = secretSetting(fs, env, setting{"admin-token", "ADMIN_TOKEN"},
		"bearer token for POST/GET /admin/backfill and /admin/reproject (unset: no admin endpoints)")
	return s
}

func (s *syncSettings) validate() []error {
	errs := s.api.validate(false)
	for _, d := range []struct {
		env string
		d   time.Duration
	}{{"ORB_RECONCILE_INTERVAL", *s.reconcileEvery}, {"ORB_REPAIR_INTERVAL", *s.repairEvery},
		{"ORB_REPAIR_LOOKBACK", *s.repairLookback}, {"ORB_REFETCH_INTERVAL", *s.refetchEvery}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("%s=%s must not be negative", d.env, d.d))
		}
	}
	if t := *s.adminToken; t != "" && len(strings.TrimSpace(t)) < 16 {
		errs = append(errs, errors.New("ADMIN_TOKEN must be at least 16 characters"))
	}
	return errs
}

// startSync starts the Orb API workers and mounts the admin endpoint when
// ORB_API_KEY is set. The returned function stops them all and waits; it
// may be called more than once.
func startSync(ctx context.Context, s *syncSettings, pool *pgxpool.Pool, schema string, logger *slog.Logger,
	reg prometheus.Registerer, router *mux.Router, jobs *jobBoard) (func(), error) {
	logger = logger.With("component", "sync")
	if !s.api.enabled() {
		logger.InfoContext(ctx, "ORB_API_KEY is not set: reconcile, repair, refetch and the backfill endpoint are off")
		return func() {}, nil
	}
	client, err := newOrbClient(s.api, logger)
	if err != nil {
		return nil, err
	}
	runner, err := orbsync.New(pool, client, orbsync.Config{Schema: schema, Logger: logger, Metrics: orbsync.NewMetrics(reg)})
	if err != nil {
		return nil, err
	}
	var workers []*orbsync.Worker
	stop := sync.OnceFunc(func() {
		for _, w := range workers {
			w.Stop()
		}
	})
	for _, w := range []struct {
		every time.Duration
		make  func() *orbsync.Worker
	}{
		{*s.reconcileEvery, func() *orbsync.Worker { return runner.NewReconciler(*s.reconcileEvery) }},
		{*s.repairEvery, func() *orbsync.Worker {
			return runner.NewRepairer(orbsync.RepairSchedule{Interval: *s.repairEvery, Lookback: *s.repairLookback, UndeliveredOnly: *s.repairUndeliveredOnly})
		}},
		{*s.refetchEvery, func() *orbsync.Worker { return runner.NewRefetcher(*s.refetchEvery) }},
	} {
		if w.every == 0 {
			continue
		}
		worker := w.make()
		if err := worker.Start(ctx); err != nil {
			stop()
			return nil, err
		}
		workers = append(workers, worker)
	}
	jobStop := func() {}
	if *s.adminToken != "" {
		job := orbsync.NewBackfillJob(ctx, runner, logger)
		router.Handle("/admin/backfill", requireBearer(*s.adminToken, job)).Methods(http.MethodGet, http.MethodPost)
		jobs.add(func() []console.Job { return backfillConsoleJobs(job.Status()) })
		jobStop = job.Stop
	}
	logger.InfoContext(ctx, "orb api workers started", slog.Duration("reconcile_interval", *s.reconcileEvery),
		slog.Duration("repair_interval", *s.repairEvery), slog.Duration("refetch_interval", *s.refetchEvery),
		slog.Bool("admin_endpoint", *s.adminToken != ""))
	return func() { jobStop(); stop() }, nil
}
