package orbsync

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// Config configures a Runner.
type Config struct {
	// Schema holds the event log and this package's tables. Required.
	Schema string
	// Logger receives progress and failures. Defaults to slog.Default().
	// Neither the API key nor object contents are ever logged.
	Logger *slog.Logger
	// Metrics, if set, counts objects, pages and passes. Nil records nothing.
	Metrics *Metrics
	// Now returns the current time; it stamps snapshots with their read
	// time. Defaults to time.Now. For tests.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Runner reads Orb's API into the event log: Backfill, Reconcile, Repair
// and the refetches of the Refetcher all go through it. It is safe for
// concurrent use; all its requests share the client's rate limit.
type Runner struct {
	cfg      Config
	pool     *pgxpool.Pool
	client   *orbapi.Client
	appender *eventlog.Appender
	q        queries
}

// New returns a Runner storing into pool and reading with client.
func New(pool *pgxpool.Pool, client *orbapi.Client, cfg Config) (*Runner, error) {
	if pool == nil || client == nil {
		return nil, errors.New("backfill: a pool and a client are required")
	}
	if cfg.Schema == "" {
		return nil, errors.New("backfill: Schema is required")
	}
	cfg = cfg.withDefaults()
	// Only AppendTx and AppendBatch are used: no writer goroutine to start.
	appender, err := eventlog.NewAppender(pool, eventlog.AppenderConfig{Schema: cfg.Schema, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("backfill: %w", err)
	}
	cfg.Metrics.initJob("backfill")
	return &Runner{cfg: cfg, pool: pool, client: client, appender: appender, q: newQueries(cfg.Schema)}, nil
}

// readTime is the order key of what is read next. It is taken before the
// request is sent: Orb's answer holds every change made before that moment,
// so every webhook created earlier orders before the snapshot, and a change
// made while the request was being served orders after it, where its own
// webhook (carrying the newer state) then wins.
func (r *Runner) readTime() time.Time {
	return r.cfg.Now().UTC().Truncate(time.Microsecond)
}
