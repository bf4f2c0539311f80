package orbsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// errorBackoffBase is the wait after a first failed pass; it doubles with
// each further failure, up to the worker's interval.
const errorBackoffBase = 30 * time.Second

// Worker runs one periodic job (reconcile, repair, refetch) in a goroutine.
// Passes hold the job's advisory lock, so replicas of serve never run the
// same job at once, and a job whose last pass (by any replica) is recent
// enough skips its turn. It follows the start/stop contract of
// STYLE.md: Start does the fallible setup synchronously, Stop returns once
// the goroutine has exited and may be called twice or before Start.
type Worker struct {
	r        *Runner
	name     string
	interval time.Duration
	// setup runs in Start and returns the wait before the first pass.
	setup func(ctx context.Context) (time.Duration, error)
	// pass runs one pass while the job's lock is held.
	pass func(ctx context.Context) error

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	cancel  context.CancelFunc
	done    chan struct{}
	started chan struct{}
}

func (r *Runner) newWorker(name string, interval time.Duration, setup func(context.Context) (time.Duration, error), pass func(context.Context) error) *Worker {
	r.cfg.Metrics.initJob(name)
	return &Worker{r: r, name: name, interval: interval, setup: setup, pass: pass,
		done: make(chan struct{}), started: make(chan struct{})}
}

// Start runs the setup (reading the job's checkpoint) and launches the
// goroutine. The goroutine stops when ctx ends or Stop is called.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state != 0 {
		return nil
	}
	if w.interval <= 0 {
		return fmt.Errorf("%s worker: interval must be positive, got %s", w.name, w.interval)
	}
	delay, err := w.setup(ctx)
	if err != nil {
		return fmt.Errorf("starting the %s worker: %w", w.name, err)
	}
	w.r.cfg.Metrics.startJob(w.name, time.Now())
	runCtx, cancel := context.WithCancel(ctx)
	w.cancel, w.state = cancel, 1
	go w.run(runCtx, delay)
	close(w.started)
	return nil
}

// Started is closed once Start has succeeded.
func (w *Worker) Started() <-chan struct{} { return w.started }

// Stop cancels a running pass and waits for the goroutine to exit.
func (w *Worker) Stop() {
	w.mu.Lock()
	state := w.state
	w.state = 2
	w.mu.Unlock()
	if state == 1 {
		w.cancel()
		<-w.done
	}
}

func (w *Worker) run(ctx context.Context, delay time.Duration) {
	defer close(w.done)
	log := w.r.cfg.Logger.With(slog.String("job", w.name))
	log.DebugContext(ctx, "worker started", slog.Duration("first_pass_in", delay))
	defer log.DebugContext(ctx, "worker stopped")
	timer := time.NewTimer(delay)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait, ok := w.turn(ctx, log, &failures)
		if !ok {
			return // Stopped mid-pass: not a failure.
		}
		timer.Reset(wait)
	}
}

// turn runs one scheduled pass, records its outcome and returns the wait
// until the next; ok is false when ctx ended during the pass. A turn that
// finds another replica holding the job's lock records nothing: it is
// neither a failure nor a success of this replica, and counting it as a
// success would keep the last-success gauge fresh while the replica that
// holds the lock hangs or fails (and OrbSyncJobNotSucceeding would never
// fire).
func (w *Worker) turn(ctx context.Context, log *slog.Logger, failures *int) (wait time.Duration, ok bool) {
	start := time.Now()
	err := w.locked(ctx)
	if ctx.Err() != nil {
		return 0, false
	}
	if errors.Is(err, errLocked) {
		log.DebugContext(ctx, "pass skipped: another replica runs it")
		return w.interval, true
	}
	w.r.cfg.Metrics.observePass(w.name, time.Since(start), err, time.Now())
	if err == nil {
		*failures = 0
		return w.interval, true
	}
	*failures++
	wait = min(w.interval, errorBackoffBase<<min(*failures-1, 16))
	log.ErrorContext(ctx, "pass failed", slog.Int("attempt", *failures), slog.Duration("backoff", wait),
		slog.String("error", err.Error()))
	return wait, true
}

// errLocked means another process holds the job's lock.
var errLocked = errors.New("job locked by another process")

// locked runs a pass under the job's advisory lock, on a connection held
// for the pass. A pass that finds the lock taken returns errLocked.
func (w *Worker) locked(ctx context.Context) error {
	unlock, err := w.r.tryLock(ctx, "orb-sync:"+w.name+":"+w.r.cfg.Schema)
	if err != nil {
		return err
	}
	defer unlock()
	return w.pass(ctx)
}

// tryLock takes a session advisory lock on a dedicated session, outside the
// pool, held until the returned function runs: a pass may last minutes and
// must not keep a pooled connection (the pool may be small and shared) just
// to hold its lock. Closing the session releases the lock.
func (r *Runner) tryLock(ctx context.Context, name string) (func(), error) {
	cfg := r.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "orb-sync-lock"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting for a lock: %w", err)
	}
	key := orbsql.LockKey(name)
	closeConn := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx) // Even a failed close ends the session, and the lock with it.
	}
	var ok bool
	if err := conn.QueryRow(ctx, r.q.TryLock, key).Scan(&ok); err != nil {
		closeConn()
		return nil, fmt.Errorf("taking a lock: %w", err)
	}
	if !ok {
		closeConn()
		return nil, errLocked
	}
	return func() {
		// Unlock first: the server drops a closed session's locks only
		// once its backend has exited, a moment after Close returns, and
		// the lock taken right after (the next backfill) must not fail.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, r.q.Unlock, key)
		closeConn()
	}, nil
}
