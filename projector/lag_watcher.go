package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Defaults for LagWatcherConfig.
const (
	lagWatchIntervalDefault = 250 * time.Millisecond
	advancingWindowDefault  = 10 * time.Second
	// lagReadTimeout bounds one read; a read that fails or times out
	// reports no projector advancing, so nothing waits on a stale figure.
	lagReadTimeout = 2 * time.Second
)

// LagWatcherConfig configures a LagWatcher.
type LagWatcherConfig struct {
	// Schema holds the log and the checkpoints. Required.
	Schema string
	// Interval is how often the lag is read without a Nudge. Defaults to
	// 250 ms.
	Interval time.Duration
	// AdvancingWindow: a projector is advancing while the slowest
	// checkpoint has moved within this window, as seen by this watcher.
	// Defaults to 10 seconds (rounds are at most a second apart while
	// events come in, and a large batch takes a few seconds).
	AdvancingWindow time.Duration
	// UpdateFunc receives every reading: the lag (log head minus the
	// slowest checkpoint, 0 without checkpoints) and whether a projector is
	// advancing. Called from the watcher's goroutine; must not block.
	// Required.
	UpdateFunc func(lag int64, advancing bool)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now returns the current time; defaults to time.Now. For tests.
	Now func() time.Time
}

// LagWatcher reads the projection lag on a ticker, and at once after a
// Nudge, with one cheap query (the log head and the slowest checkpoint),
// and tells whether a projector is advancing. It works the same whether
// the projector runs in this process or in another replica: it reads the
// checkpoints, not a projector's memory. Back-pressure on webhook
// acknowledgements (webhook.Backpressure) is its user.
type LagWatcher struct {
	cfg   LagWatcherConfig
	db    DB
	names []string
	nudge chan struct{} // capacity 1: a doorbell

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}

	// Owned by the goroutine reading (Start's first read, then run).
	slowest int64
	seen    bool      // slowest was read at least once
	moved   time.Time // when slowest was last seen to change
	lag     int64
	failing bool
}

// NewLagWatcher returns a watcher reading through db. Call Start.
func NewLagWatcher(db DB, cfg LagWatcherConfig) (*LagWatcher, error) {
	if cfg.Schema == "" || cfg.UpdateFunc == nil {
		return nil, errors.New("lag watcher: Schema and UpdateFunc are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = lagWatchIntervalDefault
	}
	if cfg.AdvancingWindow <= 0 {
		cfg.AdvancingWindow = advancingWindowDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var names []string
	for _, p := range fold.Projections() {
		names = append(names, p.Name)
	}
	return &LagWatcher{cfg: cfg, db: db, names: names, nudge: make(chan struct{}, 1), done: make(chan struct{})}, nil
}

// Start reads the lag once (so a missing schema fails here), then keeps
// reading in the background until Stop.
func (w *LagWatcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		return ErrStopped
	case w.started:
		return nil
	}
	if err := w.read(ctx); err != nil {
		return fmt.Errorf("starting the lag watcher: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel, w.started = cancel, true
	go w.run(runCtx)
	return nil
}

// Stop ends the readings and returns once the goroutine has exited. It
// may be called more than once, and before Start.
func (w *LagWatcher) Stop() {
	w.mu.Lock()
	w.stopped = true
	started := w.started
	w.mu.Unlock()
	if !started {
		return
	}
	w.cancel()
	<-w.done
}

// Nudge asks for a reading now (e.g. after a projector round committed).
// It never blocks; nudges during a reading coalesce into one more.
func (w *LagWatcher) Nudge() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

func (w *LagWatcher) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.nudge:
		}
		if err := w.read(ctx); err != nil && ctx.Err() == nil && !w.failing {
			w.failing = true
			w.cfg.Logger.WarnContext(ctx, "back-pressure: reading the projection lag failed; acknowledgements are not held until it works again",
				slog.String("error", err.Error()))
		}
	}
}

// read takes one reading and passes it to UpdateFunc. On failure it
// reports the last lag with no projector advancing.
func (w *LagWatcher) read(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, lagReadTimeout)
	defer cancel()
	var head int64
	var slowest *int64
	err := w.db.QueryRow(ctx, sqlFor(w.cfg.Schema).SlowestCheckpoint, w.names).Scan(&head, &slowest)
	if err != nil {
		w.cfg.UpdateFunc(w.lag, false)
		return fmt.Errorf("reading the log head and the slowest checkpoint: %w", err)
	}
	if w.failing {
		w.failing = false
		w.cfg.Logger.InfoContext(ctx, "back-pressure: reading the projection lag works again")
	}
	lag, advancing := w.observe(head, slowest)
	w.cfg.UpdateFunc(lag, advancing)
	return nil
}

// observe turns a reading into the lag and whether a projector is
// advancing: the slowest checkpoint was seen to move within
// AdvancingWindow. Until it is seen to move once, no projector counts as
// advancing; without checkpoints, none does.
func (w *LagWatcher) observe(head int64, slowest *int64) (lag int64, advancing bool) {
	now := w.cfg.Now()
	if slowest == nil {
		w.seen, w.moved, w.lag = false, time.Time{}, 0
		return 0, false
	}
	if w.seen && *slowest != w.slowest {
		w.moved = now
	}
	w.slowest, w.seen = *slowest, true
	w.lag = max(head-*slowest, 0)
	advancing = !w.moved.IsZero() && now.Sub(w.moved) <= w.cfg.AdvancingWindow
	return w.lag, advancing
}
