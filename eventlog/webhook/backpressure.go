package webhook

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Back-pressure defaults and limits.
const (
	// BackpressureMaxWaitDefault is how long an acknowledgement is held at
	// most: well inside the 5 seconds Orb waits for a 2xx.
	BackpressureMaxWaitDefault = 1500 * time.Millisecond
	// BackpressureMaxWaitLimit is the longest hold accepted: past it, the
	// request time Orb allows (5 s) is too close.
	BackpressureMaxWaitLimit = 4 * time.Second
	// backpressureReach: a lag above this many times the bound is not
	// held for. Holds keep a lag made by webhooks near the bound (within
	// about 6% in the reference load), so a lag this far past it was made
	// by something the holds cannot slow: a backfill, import or reconcile
	// appending in bulk, a new projection (or one whose checkpoint a
	// migration reset) catching up from 0. Holding then only throttles Orb
	// for as long as that takes, at no gain.
	backpressureReach = 4
)

// Why a held acknowledgement was released, as counted in
// orb_webhook_acks_held_total.
const (
	releaseCaughtUp   = "caught_up"    // the lag fell to the bound
	releaseStalled    = "stalled"      // no projector is advancing any more
	releaseMaxWait    = "max_wait"     // BackpressureConfig.MaxWait elapsed
	releaseSenderGone = "sender_gone"  // the request's context ended
	releaseOutOfReach = "out_of_reach" // the lag went past backpressureReach times the bound
	releaseClosed     = "shutdown"     // Close: the process is stopping
)

// BackpressureConfig configures the holding of acknowledgements while the
// projections lag.
type BackpressureConfig struct {
	// LagEvents is the projection lag (log positions) above which a stored
	// event's acknowledgement is held. Required, at least 1.
	LagEvents int64
	// MaxWait is the longest an acknowledgement is held; then it is sent
	// anyway. Defaults to BackpressureMaxWaitDefault; at most
	// BackpressureMaxWaitLimit.
	MaxWait time.Duration
	// Metrics, if set, records the holds and the lag estimate.
	Metrics *Metrics
}

// Backpressure holds acknowledgements while the projection lag estimate is
// above a bound and a projector is advancing, so closed-loop senders slow
// to the projector's pace. The event is committed before its
// acknowledgement is held: holding never loses an event, it only delays
// the 2xx. The estimate comes from outside (Update, e.g. from
// projector.LagWatcher); waiting costs no query.
//
// When no projector is advancing (none running, the leader gone), or the
// lag is more than backpressureReach times the bound (bulk appends, a
// projection catching up from 0), acks are not held: holding could not
// make the lag fall, only slow Orb down.
type Backpressure struct {
	cfg BackpressureConfig

	mu        sync.Mutex
	lag       int64
	advancing bool
	closed    bool          // Close was called: hold nothing any more
	changed   chan struct{} // closed, and replaced, by every Update
}

// NewBackpressure returns a gate that holds no acknowledgement until the
// first Update.
func NewBackpressure(cfg BackpressureConfig) (*Backpressure, error) {
	if cfg.MaxWait == 0 {
		cfg.MaxWait = BackpressureMaxWaitDefault
	}
	if cfg.LagEvents < 1 {
		return nil, fmt.Errorf("back-pressure: the lag bound %d must be at least 1", cfg.LagEvents)
	}
	if cfg.MaxWait < 0 || cfg.MaxWait > BackpressureMaxWaitLimit {
		return nil, fmt.Errorf("back-pressure: the longest hold %s must be between 0 and %s (Orb waits 5 s for an answer)", cfg.MaxWait, BackpressureMaxWaitLimit)
	}
	return &Backpressure{cfg: cfg, changed: make(chan struct{})}, nil
}

// Update sets the lag estimate (head minus the slowest checkpoint) and
// whether a projector is advancing, and wakes every held request to look
// again. Safe for concurrent use; it never blocks.
func (b *Backpressure) Update(lag int64, advancing bool) {
	b.mu.Lock()
	b.lag, b.advancing = lag, advancing
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	b.cfg.Metrics.observeLag(lag, advancing)
}

// Close releases every held acknowledgement now and holds none after it:
// on shutdown, the drain of in-flight requests should not wait up to
// MaxWait for acks of events already stored. A nil gate is a no-op.
func (b *Backpressure) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.changed)
		b.changed = make(chan struct{})
	}
}

// state returns whether an ack must be held now, why not, and a channel
// closed at the next Update.
func (b *Backpressure) state() (hold bool, release string, changed <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return false, releaseClosed, b.changed
	case !b.advancing:
		return false, releaseStalled, b.changed
	case b.lag > b.cfg.LagEvents*backpressureReach:
		return false, releaseOutOfReach, b.changed
	case b.lag > b.cfg.LagEvents:
		return true, "", b.changed
	default:
		return false, releaseCaughtUp, b.changed
	}
}

// hold waits while the lag is above the bound and a projector advances,
// for at most MaxWait or until ctx ends. A nil gate holds nothing.
func (b *Backpressure) hold(ctx context.Context) {
	if b == nil {
		return
	}
	hold, _, changed := b.state()
	if !hold {
		return
	}
	start := time.Now()
	b.cfg.Metrics.holding(1)
	timer := time.NewTimer(b.cfg.MaxWait)
	defer timer.Stop()
	release := ""
	for release == "" {
		select {
		case <-changed:
			hold, why, next := b.state()
			if !hold {
				release = why
			}
			changed = next
		case <-timer.C:
			release = releaseMaxWait
		case <-ctx.Done():
			release = releaseSenderGone
		}
	}
	b.cfg.Metrics.holding(-1)
	b.cfg.Metrics.observeHold(release, time.Since(start))
}
