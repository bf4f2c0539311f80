package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// Server timeouts. Orb wants an answer within 5 seconds; the write timeout
// leaves room for a slow commit, after which the request is answered 503.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	// shutdownTimeout bounds the drain of in-flight requests on SIGTERM.
	shutdownTimeout = 25 * time.Second
)

// appendWritersDefault is APPEND_WRITERS' default. Each append parses its
// bodies before it waits for the log head (migration 014), so a second
// writer's batch could be parsed while the first commits; but two writers
// halve the batches, and on a busy 2-core machine PostgreSQL then spent
// 19-50% more CPU per event for no steadier ack rate (issue 10, README
// "Performance"). One writer keeps the batches whole.
const appendWritersDefault = 1

// backpressureLagDefault is ORB_BACKPRESSURE_LAG_EVENTS' default: on, at a
// bound a projector keeping pace never reaches (its rounds gather about
// 1,000 events) and works off in a few seconds when behind. Tables stay
// within seconds of Orb under any load, at the price of holding some acks
// up to ORB_BACKPRESSURE_MAX_WAIT when the projector is the bottleneck.
const backpressureLagDefault = 5000

type serveSettings struct {
	db           dbSettings
	secrets      *string
	port         *int
	tolerance    *time.Duration
	maxBody      *int
	maxInflight  *int
	noMigrate    *bool
	maxConns     *int
	bgMaxConns   *int
	writers      *int
	bpLag        *int
	bpMaxWait    *time.Duration
	logLevel     *string
	logFormat    *string
	listenHost   *string
	adminListen  *string
	sync         *syncSettings // Orb API workers: serve_sync.go.
	projector    *projectorSettings
	settingsErrs []error
}

func addServeSettings(fs *flag.FlagSet, env *environment) *serveSettings {
	s := &serveSettings{db: addDBSettings(fs, env)}
	s.secrets = secretSetting(fs, env, setting{"webhook-secret", "ORB_WEBHOOK_SECRET"}, "Orb webhook signing secret(s), comma-separated; any may match (required)")
	s.port = intSetting(fs, env, setting{"port", "PORT"}, 8080, "HTTP port", &s.settingsErrs)
	s.listenHost = stringSetting(fs, env, setting{"listen-host", "LISTEN_HOST"}, "", "interface of the public webhook port (empty: all)")
	s.adminListen = stringSetting(fs, env, setting{"admin-listen", "ADMIN_LISTEN"}, defaultAdminListen, "host:port of /metrics and /admin/* (off: none)")
	s.tolerance = durationSetting(fs, env, setting{"webhook-tolerance", "ORB_WEBHOOK_TOLERANCE"}, webhook.DefaultTolerance, "accepted age and clock skew of X-Orb-Timestamp", &s.settingsErrs)
	s.maxBody = intSetting(fs, env, setting{"max-body-bytes", "MAX_BODY_BYTES"}, webhook.MaxBodyBytesDefault, "largest accepted webhook body (413 above)", &s.settingsErrs)
	s.maxInflight = intSetting(fs, env, setting{"max-inflight-bytes", "MAX_INFLIGHT_BYTES"}, webhook.InflightBytesDefault, "webhook body bytes held at once; past it deliveries wait 2s, then get 503", &s.settingsErrs)
	s.maxConns = intSetting(fs, env, setting{"db-max-conns", "DATABASE_MAX_CONNS"}, 10, "connections of the webhook (ack) path", &s.settingsErrs)
	s.bgMaxConns = intSetting(fs, env, setting{"db-background-max-conns", "DATABASE_BACKGROUND_MAX_CONNS"}, 4,
		"connections of background work: projector, rebuilds, Orb API jobs (locks use sessions of their own)", &s.settingsErrs)
	s.writers = intSetting(fs, env, setting{"append-writers", "APPEND_WRITERS"}, appendWritersDefault, "append transactions in flight at once (they still commit one at a time, in order)", &s.settingsErrs)
	s.bpLag = intSetting(fs, env, setting{"backpressure-lag-events", "ORB_BACKPRESSURE_LAG_EVENTS"}, backpressureLagDefault,
		"projection lag (events) above which webhook acks are held while a projector advances (0: never hold)", &s.settingsErrs)
	s.bpMaxWait = durationSetting(fs, env, setting{"backpressure-max-wait", "ORB_BACKPRESSURE_MAX_WAIT"}, webhook.BackpressureMaxWaitDefault,
		"longest a webhook ack is held by back-pressure (at most 4s: Orb waits 5s)", &s.settingsErrs)
	s.logLevel = stringSetting(fs, env, setting{"log-level", "LOG_LEVEL"}, "info", "debug, info, warn or error")
	s.logFormat = stringSetting(fs, env, setting{"log-format", "LOG_FORMAT"}, "json", "json or text")
	s.noMigrate = fs.Bool("no-migrate", env.getenv("NO_MIGRATE") == "true", "don't apply migrations on start (env NO_MIGRATE=true)")
	s.sync = addSyncSettings(fs, env, &s.settingsErrs)
	s.projector = addProjectorSettings(fs, env, &s.settingsErrs)
	return s
}

func (s *serveSettings) validate() error {
	errs := append([]error(nil), s.settingsErrs...)
	if err := s.db.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(splitSecrets(*s.secrets)) == 0 {
		errs = append(errs, errors.New("ORB_WEBHOOK_SECRET is not set: give the signing secret of your Orb webhook endpoint (several, comma-separated, during a rotation)"))
	}
	if *s.port < 1 || *s.port > 65535 {
		errs = append(errs, fmt.Errorf("PORT=%d must be between 1 and 65535", *s.port))
	}
	if err := validateAdminListen(*s.adminListen); err != nil {
		errs = append(errs, err)
	}
	if *s.tolerance <= 0 {
		errs = append(errs, fmt.Errorf("ORB_WEBHOOK_TOLERANCE=%s must be positive", *s.tolerance))
	}
	if *s.maxBody < 1024 {
		errs = append(errs, fmt.Errorf("MAX_BODY_BYTES=%d must be at least 1024", *s.maxBody))
	}
	if *s.maxInflight < *s.maxBody {
		errs = append(errs, fmt.Errorf("MAX_INFLIGHT_BYTES=%d must be at least MAX_BODY_BYTES=%d", *s.maxInflight, *s.maxBody))
	}
	if *s.maxConns < 3 {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS=%d must be at least 3", *s.maxConns))
	}
	if *s.bgMaxConns < 2 {
		errs = append(errs, fmt.Errorf("DATABASE_BACKGROUND_MAX_CONNS=%d must be at least 2", *s.bgMaxConns))
	}
	if *s.writers < 1 || *s.writers > 8 {
		errs = append(errs, fmt.Errorf("APPEND_WRITERS=%d must be between 1 and 8", *s.writers))
	}
	if *s.bpLag < 0 || *s.bpLag > 100_000_000 {
		errs = append(errs, fmt.Errorf("ORB_BACKPRESSURE_LAG_EVENTS=%d must be between 0 (off) and 100000000", *s.bpLag))
	}
	if *s.bpMaxWait < 10*time.Millisecond || *s.bpMaxWait > webhook.BackpressureMaxWaitLimit {
		errs = append(errs, fmt.Errorf("ORB_BACKPRESSURE_MAX_WAIT=%s must be between 10ms and %s (Orb expects an answer within 5s)", *s.bpMaxWait, webhook.BackpressureMaxWaitLimit))
	}
	if _, err := newLogger(nil, *s.logLevel, *s.logFormat); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, s.sync.validate()...)
	errs = append(errs, s.projector.validate()...)
	return errors.Join(errs...)
}

// runServe starts serve's components, each after what it needs, and
// stops them in the reverse order (runGroup) when the context ends or a
// listener fails:
//
//  1. the HTTP listeners: /readyz answers 503, no new request is
//     accepted, in-flight webhooks finish (each is answered only after its
//     commit, so the appender is still running);
//  2. the Orb API workers and the backfill job (they append);
//  3. the rebuild jobs, before the projector whose tables they swap;
//  4. the projector;
//  5. the lag watcher, after the held acks were answered;
//  6. the appender, after every component that appends;
//  7. the two pools.
func runServe(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet(env, "serve")
	s := addServeSettings(fs, env)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if err := s.validate(); err != nil {
		return err
	}
	logger, _ := newLogger(env.stderr, *s.logLevel, *s.logFormat)
	schema := *s.db.schema
	tuneGC(logger)

	group := &runGroup{logger: logger}
	defer group.stop()

	// Two pools: background work (projector, rebuilds, Orb API jobs) can
	// never take the connections the webhook path needs to acknowledge.
	pool, err := openPool(ctx, s.db, "serve", int32(*s.maxConns))
	if err != nil {
		return err
	}
	group.add("pool", pool.Close)
	bgPool, err := openPool(ctx, s.db, "background", int32(*s.bgMaxConns))
	if err != nil {
		return err
	}
	group.add("background pool", bgPool.Close)
	if !*s.noMigrate {
		if err := migrate(ctx, pool, schema); err != nil {
			return err
		}
		logger.InfoContext(ctx, "migrations applied", slog.String("schema", schema), slog.Int("version", int(orbsql.LatestVersion())))
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newPoolCollector(map[string]*pgxpool.Pool{"ack": pool, "background": bgPool}), newBuildInfoCollector())
	logMetrics := eventlog.NewMetrics(reg)
	webhookMetrics := webhook.NewMetrics(reg)

	// The appender: every webhook's row is committed by its group commit.
	appender, err := eventlog.NewAppender(pool, eventlog.AppenderConfig{Schema: schema, Logger: logger.With("component", "appender"), Metrics: logMetrics,
		Writers: *s.writers})
	if err != nil {
		return err
	}
	appender.Start()
	group.add("appender", appender.Stop)

	// Back-pressure: acks wait while the projections lag (serve_backpressure.go).
	gate, nudgeLag, stopLag, err := startBackpressure(ctx, s, bgPool, schema, logger, webhookMetrics)
	if err != nil {
		return err
	}
	group.add("lag watcher", stopLag)

	receiver, err := webhook.NewReceiver(appender, webhook.ReceiverConfig{
		Secrets:       splitSecrets(*s.secrets),
		Tolerance:     *s.tolerance,
		MaxBodyBytes:  int64(*s.maxBody),
		InflightBytes: int64(*s.maxInflight),
		Backpressure:  gate,
		Logger:        logger.With("component", "receiver"),
		Metrics:       webhookMetrics,
	})
	if err != nil {
		return err
	}

	// The public port answers Orb and the probes only; metrics and admin
	// endpoints live on the admin listener (listeners.go).
	var ready atomic.Bool
	web := newListeners(logger)
	web.public.Handle("/webhooks", receiver).Methods(http.MethodPost)
	web.public.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }).Methods(http.MethodGet)
	web.public.Handle("/readyz", readiness(pool, schema, &ready)).Methods(http.MethodGet)
	web.admin.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})).Methods(http.MethodGet)

	// The projector: one replica at a time applies the log to the tables.
	rebuildMetrics := projector.NewRebuildMetrics(reg)
	proj, err := startProjector(ctx, s.projector, bgPool, schema, logger, reg, rebuildMetrics, nudgeLag)
	if err != nil {
		return err
	}
	group.add("projector", proj.Stop)

	// POST/GET /admin/reproject with ADMIN_TOKEN: rebuild tables from the
	// log in the background (projector.RebuildJob, mounted in admin_reproject.go).
	jobs := &jobBoard{}
	group.add("rebuild jobs", mountReproject(ctx, *s.sync.adminToken, bgPool, schema, logger, rebuildMetrics, web.admin, jobs))

	// Orb API workers (reconcile, repair, refetch) and /admin/backfill,
	// only with ORB_API_KEY.
	stopSync, err := startSync(ctx, s.sync, bgPool, schema, logger, reg, web.admin, jobs)
	if err != nil {
		return err
	}
	group.add("Orb API workers", stopSync)

	// The web console at /console/ on the admin listener, with ADMIN_TOKEN
	// (serve_console.go).
	if err := mountConsole(ctx, *s.sync.adminToken, splitSecrets(*s.secrets), bgPool, schema, logger, reg, jobs, web.admin); err != nil {
		return err
	}

	publicAddr := net.JoinHostPort(*s.listenHost, strconv.Itoa(*s.port))
	if err := web.start(ctx, publicAddr, *s.adminListen); err != nil {
		return err
	}
	// Not ready any more, stop accepting, let in-flight requests finish
	// (each is answered only after its commit).
	group.add("http", func() {
		ready.Store(false)
		gate.Close() // Held acks go now: their events are stored.
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := web.shutdown(shutdownCtx); err != nil {
			logger.Error("http shutdown incomplete", slog.String("error", err.Error()))
		}
	})
	ready.Store(true)
	logger.InfoContext(ctx, "serving", slog.String("schema", schema))

	select {
	case <-ctx.Done():
		logger.InfoContext(ctx, "shutting down: draining in-flight requests")
	case err := <-web.failed():
		return fmt.Errorf("http server: %w", err)
	}
	group.stop()
	logger.Info("stopped")
	return nil
}

// readiness answers 200 when this instance is serving, the database answers
// and its schema is at this binary's version; 503 otherwise.
func readiness(pool *pgxpool.Pool, schema string, ready *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready: starting or stopping", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := orbsql.CheckVersion(ctx, pool, schema); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}
