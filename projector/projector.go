package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	orbsql "github.com/orb-sync/orb-sync/sql"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Defaults for Config.
const (
	batchSizeDefault        = 20000
	pollIntervalDefault     = time.Second
	roundIntervalDefault    = 100 * time.Millisecond
	roundIntervalMaxDefault = time.Second
	roundEventsDefault      = 1000
	electIntervalDefault    = 2 * time.Second
	pingIntervalDefault     = 5 * time.Second
	drainTimeoutDefault     = 5 * time.Second
	applicationNameDefault  = "orb-sync"
)

// Config configures a Projector.
type Config struct {
	// Schema holds the log and the tables. Required.
	Schema string
	// BatchSize is the most log positions applied in one transaction per
	// projection. Larger batches collapse more updates of one entity into
	// one write. Defaults to 20,000.
	BatchSize int
	// PollInterval is how often the log is read without a notification, a
	// safety net for lost NOTIFYs; jittered by ±10%. Also how often a
	// failed batch is retried. Defaults to 1 second.
	PollInterval time.Duration
	// RoundInterval is the least time between the starts of two catch-ups
	// while events trickle in: the NOTIFYs of the commits in between fold
	// into one round, so the per-round cost (planning and running each fed
	// projection's fold, the checkpoints, one transaction) is paid per
	// round, not per commit. A backlog larger than a batch is applied in
	// back-to-back rounds regardless. Defaults to 100 ms.
	RoundInterval time.Duration
	// RoundIntervalMax is the most time between the starts of two
	// catch-ups while events trickle in (the pacer stretches the interval
	// from RoundInterval towards it when rounds find fewer than
	// RoundEvents new positions; pacer.go). It bounds the lag this adds.
	// Defaults to 1 second; set it to RoundInterval for a fixed interval.
	RoundIntervalMax time.Duration
	// RoundEvents is the number of new log positions the pacer tries to
	// gather into one round. Defaults to 1,000.
	RoundEvents int
	// ElectInterval is how often an instance that is not the leader tries
	// to take the projector lock; jittered by ±10%. Defaults to 2 seconds.
	ElectInterval time.Duration
	// PingInterval is the silence after which the listener and lock
	// connections are pinged, to notice a dead network path. A killed
	// session is noticed at once regardless. Defaults to 5 seconds.
	PingInterval time.Duration
	// DrainTimeout bounds how long Stop lets the batch in flight finish
	// before cancelling it (which is safe, only wasted). Defaults to 5 s.
	DrainTimeout time.Duration
	// ApplicationName prefixes the application_name of the projector's
	// dedicated connections: <name>-listener and <name>-leader. Defaults to
	// "orb-sync".
	ApplicationName string
	// PollOnly disables LISTEN (for poolers that cannot hold a session):
	// new events are then seen within PollInterval. The projector lock
	// still needs a session.
	PollOnly bool
	// AfterRoundFunc, if set, is called after each round commits, on the
	// runner goroutine; it must not block (LagWatcher.Nudge, so
	// back-pressure sees the new checkpoints at once).
	AfterRoundFunc func()
	// PausedHistory names the versioned tables (fold.VersionedTables, e.g.
	// "invoices") whose history this projector leaves paused
	// (PROJECTOR_HISTORY): their history tables keep the versions up to
	// their checkpoints and are not applied; the leader marks them paused
	// in projection_checkpoints, so lag and status leave them out.
	// Resuming one folds what it missed from the log. Empty: every
	// history is live.
	PausedHistory []string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, if set, records progress (see NewMetrics).
	Metrics *Metrics
	// RebuildMetrics, if set, records the automatic rebuilds of tables
	// built by another projection version (see autorebuild.go).
	RebuildMetrics *RebuildMetrics
}

func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = batchSizeDefault
	}
	if c.PollInterval == 0 {
		c.PollInterval = pollIntervalDefault
	}
	if c.RoundInterval == 0 {
		c.RoundInterval = roundIntervalDefault
	}
	if c.RoundIntervalMax == 0 {
		c.RoundIntervalMax = max(roundIntervalMaxDefault, c.RoundInterval)
	}
	if c.RoundEvents == 0 {
		c.RoundEvents = roundEventsDefault
	}
	if c.ElectInterval == 0 {
		c.ElectInterval = electIntervalDefault
	}
	if c.PingInterval == 0 {
		c.PingInterval = pingIntervalDefault
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = drainTimeoutDefault
	}
	if c.ApplicationName == "" {
		c.ApplicationName = applicationNameDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if err := orbsql.ValidateSchema(c.Schema); err != nil {
		errs = append(errs, fmt.Errorf("Schema: %w", err))
	}
	if c.BatchSize < 1 || c.BatchSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("BatchSize %d must be between 1 and 1,000,000", c.BatchSize))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", c.PollInterval}, {"ElectInterval", c.ElectInterval}, {"PingInterval", c.PingInterval}, {"DrainTimeout", c.DrainTimeout}} {
		if d.v < 10*time.Millisecond {
			errs = append(errs, fmt.Errorf("%s %s must be at least 10ms", d.name, d.v))
		}
	}
	if c.RoundIntervalMax < c.RoundInterval {
		errs = append(errs, fmt.Errorf("RoundIntervalMax %s must be at least RoundInterval %s", c.RoundIntervalMax, c.RoundInterval))
	}
	if c.RoundEvents < 1 || c.RoundEvents > 1_000_000 {
		errs = append(errs, fmt.Errorf("RoundEvents %d must be between 1 and 1,000,000", c.RoundEvents))
	}
	for _, t := range c.PausedHistory {
		if !slices.Contains(fold.VersionedTables(), t) {
			errs = append(errs, fmt.Errorf("PausedHistory: %q keeps no history (tables with history: %s)", t, strings.Join(fold.VersionedTables(), ", ")))
		}
	}
	if len(c.ApplicationName) > 40 {
		errs = append(errs, fmt.Errorf("ApplicationName %q must be at most 40 bytes", c.ApplicationName))
	}
	return errors.Join(errs...)
}

// ErrStopped is returned by Start after Stop.
var ErrStopped = errors.New("projector stopped")

// Projector keeps the projection tables up to date from the log. See the
// package documentation for the design.
type Projector struct {
	cfg    Config
	pool   *pgxpool.Pool
	logger *slog.Logger

	targets []*fold.Target
	elector *elector
	wake    chan struct{} // capacity 1: a doorbell, not a queue

	mu       sync.Mutex
	started  bool
	stopped  bool
	cancel   context.CancelFunc
	stopping chan struct{} // closed by Stop: finish the batch in flight
	runDone  chan struct{} // closed when the runner has returned
	wg       sync.WaitGroup

	// Owned by the runner goroutine.
	checkpoints     map[string]int64
	head            int64 // as the last catch-up read it
	typesCounted    int64 // unknown types are counted up to here
	typesCountedSet bool
	pausedWritten   bool // this lead has written PausedHistory to the checkpoints
	fieldsLogged    map[string]bool
	runnerBackoff   backoff            // after a catch-up failed as a whole
	retries         map[string]backoff // per projection, after its batch failed
	shrunk          map[string]int     // batch limits cut by statement timeouts
	hooks           testHooks
}

// testHooks let tests interfere at chosen points; nil in production.
type testHooks struct {
	// beforeCommit runs inside a round's transaction, after the rows and
	// the checkpoints of the named projections are written; an error
	// aborts the round.
	beforeCommit func(ctx context.Context, tx pgx.Tx, projections []string) error
}

// New returns a Projector reading and writing through pool. Call Start.
func New(pool *pgxpool.Pool, cfg Config) (*Projector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("projector config: %w", err)
	}
	p := &Projector{
		cfg:          cfg,
		pool:         pool,
		logger:       cfg.Logger.With("component", "projector"),
		wake:         make(chan struct{}, 1),
		stopping:     make(chan struct{}),
		runDone:      make(chan struct{}),
		checkpoints:  map[string]int64{},
		fieldsLogged: map[string]bool{},
		retries:      map[string]backoff{},
		shrunk:       map[string]int{},
	}
	p.elector = newElector(p)
	cfg.Metrics.readStatusFrom(func(ctx context.Context) (Status, error) { return ReadStatus(ctx, pool, cfg.Schema) })
	return p, nil
}

// Start compiles the projections against their tables (failing if the
// migrations are not applied), creates missing checkpoints, opens the
// LISTEN connection, then starts applying in the background. ctx bounds
// this setup only; the projector runs until Stop.
func (p *Projector) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.stopped:
		return ErrStopped
	case p.started:
		return nil
	}
	if err := p.prepare(ctx); err != nil {
		return fmt.Errorf("starting projector: %w", err)
	}
	var listenConn *pgx.Conn
	if !p.cfg.PollOnly {
		conn, err := p.connectListener(ctx)
		if err != nil {
			return fmt.Errorf("starting projector: %w", err)
		}
		listenConn = conn
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	p.started = true
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.elector.run(runCtx) }()
	go func() { defer p.wg.Done(); p.run(runCtx) }()
	if listenConn != nil {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.listen(runCtx, listenConn) }()
	}
	p.startRebuilds(runCtx) // Tables built by another projection version: autorebuild.go.
	return nil
}

// prepare compiles every projection against its table and creates missing
// checkpoints. Paused history projections are left out of the targets:
// nothing is applied to them, and their checkpoints count for nothing.
func (p *Projector) prepare(ctx context.Context) error {
	p.targets = p.targets[:0]
	for _, proj := range fold.Projections() {
		if p.paused(proj) {
			continue
		}
		t, err := fold.Compile(ctx, p.pool, p.cfg.Schema, proj.Name, proj.Table)
		if err != nil {
			return err
		}
		p.targets = append(p.targets, t)
	}
	return ensureCheckpoints(ctx, p.pool, p.cfg.Schema, fold.Projections())
}

// PausedHistoryFor reads a PROJECTOR_HISTORY value, the versioned tables
// whose history stays live ("all", "none", or a comma-separated list; a
// "_history" suffix is allowed), into the tables to pause: PausedHistory.
func PausedHistoryFor(live string) ([]string, error) {
	versioned := fold.VersionedTables()
	switch strings.TrimSpace(live) {
	case "all":
		return nil, nil
	case "none":
		return versioned, nil
	}
	keep := map[string]bool{}
	for _, t := range strings.Split(live, ",") {
		t = strings.TrimSuffix(strings.TrimSpace(t), "_history")
		if !slices.Contains(versioned, t) {
			return nil, fmt.Errorf("%q keeps no history; give all, none, or tables among %s", t, strings.Join(versioned, ", "))
		}
		keep[t] = true
	}
	var paused []string
	for _, t := range versioned {
		if !keep[t] {
			paused = append(paused, t)
		}
	}
	return paused, nil
}

// paused reports whether proj is a history projection this projector
// leaves paused.
func (p *Projector) paused(proj fold.Projection) bool {
	return proj.History && slices.Contains(p.cfg.PausedHistory, proj.BaseTable())
}

// pausedNames lists the projections this projector leaves paused.
func (p *Projector) pausedNames() []string {
	names := []string{}
	for _, proj := range fold.Projections() {
		if p.paused(proj) {
			names = append(names, proj.Name)
		}
	}
	return names
}

// Stop lets the batch in flight commit (up to DrainTimeout), then stops
// applying, gives up the projector lock and closes its connections. It
// returns when every goroutine has exited, may be called more than once,
// and before Start.
func (p *Projector) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		p.wg.Wait()
		return
	}
	p.stopped = true
	started := p.started
	p.mu.Unlock()
	close(p.stopping)
	if !started {
		return
	}
	timer := time.NewTimer(p.cfg.DrainTimeout)
	select {
	case <-p.runDone:
	case <-timer.C:
		p.logger.Warn("stopping: cancelling the batch in flight", slog.Duration("drain_timeout", p.cfg.DrainTimeout))
	}
	timer.Stop()
	p.cancel()
	p.wg.Wait()
	p.cfg.Metrics.setLeader(false)
}

// IsLeader reports whether this instance holds the projector lock and is
// the one applying events.
func (p *Projector) IsLeader() bool { return p.elector.isLeader() }

// Status reads every projection's progress (see ReadStatus).
func (p *Projector) Status(ctx context.Context) (Status, error) {
	return ReadStatus(ctx, p.pool, p.cfg.Schema)
}

// kick rings the doorbell: the runner reads the log soon. Rings while a
// read is pending coalesce.
func (p *Projector) kick(source string) {
	p.cfg.Metrics.woke(source)
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// connConfig is the pool's connection settings under another
// application_name, for the dedicated connections.
func (p *Projector) connConfig(role string) *pgx.ConnConfig {
	cfg := p.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = p.cfg.ApplicationName + "-" + role
	return cfg
}

// listenChannel is the channel the event log rings after each append.
func (p *Projector) listenChannel() string { return eventlog.NotifyChannel(p.cfg.Schema) }
