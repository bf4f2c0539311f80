package projector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Defaults for RebuildConfig.
const (
	rebuildChunkDefault        = 2_000_000
	rebuildCatchUpDefault      = 20_000
	rebuildLockTimeoutDefault  = 2 * time.Second
	rebuildSwapAttemptsDefault = 60
)

// ErrRebuildRunning is returned when another rebuild of the same table (in
// this process or another) holds its lock.
var ErrRebuildRunning = errors.New("a rebuild of this table is already running")

// ErrLiveChanged is returned by a swap that finds the live table's columns
// or indexes changed since the shadow table was created from it (a
// migration ran meanwhile). Nothing was swapped; rebuild again.
var ErrLiveChanged = errors.New("the live table changed during the rebuild")

// RebuildConfig configures a Rebuilder.
type RebuildConfig struct {
	// Schema holds the log and the tables. Required.
	Schema string
	// ChunkSize is the most log positions folded into the shadow table per
	// transaction. Each chunk after the first rewrites the rows it touches,
	// so larger is faster; smaller bounds a statement's temporary space and
	// reports progress more often. Defaults to 2,000,000.
	ChunkSize int64
	// CatchUpLimit is the most log positions the swap transaction applies
	// while it pauses the live projection; a longer backlog (events that
	// arrived during the fill) is applied to the shadow table first, outside
	// it. Defaults to 20,000.
	CatchUpLimit int64
	// LockTimeout bounds each lock wait of the swap transaction (the
	// checkpoint row, then the tables): a waiting ACCESS EXCLUSIVE request
	// queues every later reader, so the swap gives up quickly and retries.
	// Defaults to 2 seconds.
	LockTimeout time.Duration
	// SwapAttempts is how many times the swap is tried before the rebuild
	// fails (backing off from 100 ms to 5 s between tries). Defaults to 60,
	// about 5 minutes.
	SwapAttempts int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, if set, records progress (see NewRebuildMetrics).
	Metrics *RebuildMetrics
	// OnProgress, if set, is called from the rebuilding goroutine at every
	// phase change and after every chunk. It must not block.
	OnProgress func(RebuildProgress)
}

func (c RebuildConfig) withDefaults() RebuildConfig {
	c.ChunkSize = cmp.Or(c.ChunkSize, rebuildChunkDefault)
	c.CatchUpLimit = cmp.Or(c.CatchUpLimit, rebuildCatchUpDefault)
	c.LockTimeout = cmp.Or(c.LockTimeout, rebuildLockTimeoutDefault)
	c.SwapAttempts = cmp.Or(c.SwapAttempts, rebuildSwapAttemptsDefault)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c RebuildConfig) validate() error {
	var errs []error
	if err := orbsql.ValidateSchema(c.Schema); err != nil {
		errs = append(errs, fmt.Errorf("Schema: %w", err))
	}
	if c.ChunkSize < 1 {
		errs = append(errs, fmt.Errorf("ChunkSize %d must be positive", c.ChunkSize))
	}
	if c.CatchUpLimit < 1 {
		errs = append(errs, fmt.Errorf("CatchUpLimit %d must be positive", c.CatchUpLimit))
	}
	if c.LockTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("LockTimeout %s must be at least 1ms", c.LockTimeout))
	}
	if c.SwapAttempts < 1 {
		errs = append(errs, fmt.Errorf("SwapAttempts %d must be positive", c.SwapAttempts))
	}
	return errors.Join(errs...)
}

// Phase is where a table's rebuild is.
type Phase string

// The phases of a rebuild, in order; it ends Done or Failed.
const (
	PhaseWaiting    Phase = "waiting"     // Not started yet.
	PhaseFilling    Phase = "filling"     // Folding (0, H] into the shadow table.
	PhaseIndexing   Phase = "indexing"    // Building the shadow table's indexes.
	PhaseCatchingUp Phase = "catching_up" // Folding what arrived meanwhile.
	PhaseSwapping   Phase = "swapping"    // In (or retrying) the swap transaction.
	PhaseDone       Phase = "done"        // Swapped in; the old table is gone.
	PhaseFailed     Phase = "failed"      // Stopped; the live table is untouched.
)

// RebuildProgress is one table's state during a rebuild.
type RebuildProgress struct {
	Projection string
	Table      string
	Phase      Phase
	// Done is the log positions folded into the shadow table so far; Total
	// the positions to fold before the swap (the head when the rebuild
	// started, later the head it catches up to).
	Done, Total int64
	// Started is when this table's rebuild began.
	Started time.Time
	// Err is set when Phase is PhaseFailed.
	Err error
}

// RebuildResult is what a finished rebuild of one table did.
type RebuildResult struct {
	Projection string
	Table      string
	// Head is the log head the shadow table was first filled to (H);
	// Checkpoint the position it had applied when it was swapped in.
	Head, Checkpoint int64
	// Events is the number of events folded; Rows the rows of the new table.
	Events, Rows int64
	// DeadLetters are events set aside during the rebuild.
	DeadLetters []DeadLetter
	// SwapAttempts counts swap transactions tried (1 unless locks timed out).
	SwapAttempts int
	// KeptEmpty says the table had no rows and no event fed it: it was
	// kept, and only its checkpoint moved (Swap is that transaction).
	KeptEmpty bool
	// Took is the whole rebuild; Fill the fold up to Head; Swap the swap
	// transaction that committed.
	Took, Fill, Swap time.Duration
}

// Rebuilder rebuilds projection tables from the whole log while the
// projector keeps running: into a shadow table, swapped in under the
// projection's checkpoint lock (see the package doc, Re-projection).
type Rebuilder struct {
	pool *pgxpool.Pool
	cfg  RebuildConfig
}

// NewRebuilder returns a Rebuilder working through pool.
func NewRebuilder(pool *pgxpool.Pool, cfg RebuildConfig) (*Rebuilder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("rebuild config: %w", err)
	}
	cfg.Logger = cfg.Logger.With("component", "rebuild")
	return &Rebuilder{pool: pool, cfg: cfg}, nil
}

// ProjectionsNamed returns the projections named, by projection or table
// name, in catalog order; every projection when names is empty.
func ProjectionsNamed(names []string) ([]Projection, error) {
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(fold.Projections(), func(p Projection) bool { return p.Name == n || p.Table == n }) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		known := make([]string, len(fold.Projections()))
		for i, p := range fold.Projections() {
			known[i] = p.Table
		}
		return nil, fmt.Errorf("unknown table %q (tables: %v)", unknown, known)
	}
	var out []Projection
	for _, p := range fold.Projections() {
		if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return p.Name == n || p.Table == n }) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Rebuild rebuilds the named projections (projection or table names) one
// after the other, and returns the results of those swapped in. A table
// that fails is left as it was and the next one is rebuilt; the errors are
// joined. When ctx ends, the table in progress is abandoned (its shadow
// dropped) and the live table is untouched.
func (r *Rebuilder) Rebuild(ctx context.Context, names ...string) ([]RebuildResult, error) {
	list, err := ProjectionsNamed(names)
	if err != nil {
		return nil, err
	}
	for _, p := range list {
		r.report(RebuildProgress{Projection: p.Name, Table: p.Table, Phase: PhaseWaiting})
	}
	sess := &rebuildSession{r: r}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		sess.close(cctx)
	}()
	var results []RebuildResult
	var errs []error
	for _, p := range list {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("rebuilding %s: %w", p.Table, context.Cause(ctx)))
			continue
		}
		res, err := r.rebuildOne(ctx, sess, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("rebuilding %s: %w", p.Table, err))
			continue
		}
		results = append(results, res)
	}
	return results, errors.Join(errs...)
}

func (r *Rebuilder) rebuildOne(ctx context.Context, sess *rebuildSession, p Projection) (RebuildResult, error) {
	b := &rebuild{r: r, sess: sess, p: p, names: shadowNamesFor(p.Table), started: time.Now()}
	b.res = RebuildResult{Projection: p.Name, Table: p.Table}
	r.cfg.Metrics.started(p.Name)
	err := b.run(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		// The server reports the cancel request as its own error (57014).
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	b.res.Took = time.Since(b.started)
	r.cfg.Metrics.finished(p.Name, err, b.res.Took)
	if err != nil {
		b.progress(PhaseFailed, err)
		r.logFailure(ctx, p, err)
		return b.res, err
	}
	b.progress(PhaseDone, nil)
	r.cfg.Logger.InfoContext(ctx, "table rebuilt from the log and swapped in", slog.String("table", p.Table),
		slog.Int64("head", b.res.Head), slog.Int64("checkpoint", b.res.Checkpoint), slog.Int64("events", b.res.Events),
		slog.Int64("rows", b.res.Rows), slog.Int("dead_letters", len(b.res.DeadLetters)), slog.Int("swap_attempts", b.res.SwapAttempts),
		slog.Bool("kept_empty", b.res.KeptEmpty), slog.Duration("took", b.res.Took), slog.Duration("fill", b.res.Fill), slog.Duration("swap", b.res.Swap))
	return b.res, nil
}

func (r *Rebuilder) logFailure(ctx context.Context, p Projection, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		r.cfg.Logger.InfoContext(ctx, "rebuild cancelled; the live table is untouched", slog.String("table", p.Table))
		return
	}
	r.cfg.Logger.ErrorContext(ctx, "rebuild failed; the live table is untouched", slog.String("table", p.Table),
		slog.String("error", err.Error()))
}

func (r *Rebuilder) report(p RebuildProgress) {
	r.cfg.Metrics.progress(p)
	if r.cfg.OnProgress != nil {
		r.cfg.OnProgress(p)
	}
}

// cancelDeadlineDelay is how long a cancelled statement may take to stop
// after the cancel request before the rebuild's connection is closed.
const cancelDeadlineDelay = 5 * time.Second

// connect opens the rebuild's own session: it holds each table's rebuild
// lock while that table is rebuilt, and its statements may run for
// minutes, so it is not the pool's (whose statement_timeout may be short). Cancelling
// ctx sends PostgreSQL a cancel request: pgx's default only closes the
// socket, and the server would run a long fill to its end, holding the
// rebuild lock, before noticing.
func (r *Rebuilder) connect(ctx context.Context) (*pgx.Conn, error) {
	cfg := r.pool.Config().ConnConfig.Copy()
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelDeadlineDelay}
	}
	cfg.RuntimeParams["statement_timeout"] = "0"
	if name := cfg.RuntimeParams["application_name"]; name != "" && len(name) < 50 {
		cfg.RuntimeParams["application_name"] = name + "-rebuild"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	return conn, nil
}

// rebuildLockNamespace is the first key of the per-table rebuild lock.
var rebuildLockNamespace = orbsql.LockKey32("orb-sync rebuild")

func rebuildLockKey(schema, table string) int32 { return orbsql.LockKey32(schema + "." + table) }

// tryRebuildLock takes the table's rebuild lock for the session of db.
func tryRebuildLock(ctx context.Context, db DB, schema, table string) (bool, error) {
	var got bool
	err := db.QueryRow(ctx, sqlFor(schema).TryLock, rebuildLockNamespace, rebuildLockKey(schema, table)).Scan(&got)
	if err != nil {
		return false, fmt.Errorf("taking the rebuild lock: %w", err)
	}
	return got, nil
}

func unlockRebuild(ctx context.Context, db DB, schema, table string) error {
	_, err := db.Exec(ctx, sqlFor(schema).Unlock, rebuildLockNamespace, rebuildLockKey(schema, table))
	return err
}
