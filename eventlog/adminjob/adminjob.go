// Package adminjob is what every long task started from an admin endpoint
// shares: a Runner that runs one at a time away from the request that
// started it (the backfill, package orbsync; the rebuild, package
// projector; later a snapshot or an export), and the JSON answers of those
// endpoints. It imports nothing of orb-sync, so sources and readers may
// both use it without importing against the flow.
package adminjob

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// Runner runs one task at a time. The task runs under a context that ends
// when the Runner's does (shutdown) or on Stop, and Stop waits for it, so
// the service never exits with a task half done behind its back.
type Runner struct {
	ctx context.Context // Ends at shutdown.

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewRunner returns a Runner whose tasks end when ctx does.
func NewRunner(ctx context.Context) *Runner { return &Runner{ctx: ctx} }

// Start runs task in a goroutine of its own unless one is running or the
// Runner's context has ended, and reports whether it did. begin runs
// first, before task can call back; what task returns runs when it is
// over, in the same critical section that marks the runner idle, so a
// caller never sees a finished status while a new start would still be
// refused.
func (b *Runner) Start(begin func(), task func(ctx context.Context) (end func())) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running || b.ctx.Err() != nil {
		return false
	}
	begin()
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan struct{})
	b.running, b.cancel, b.done = true, cancel, done
	go func() {
		defer close(done)
		defer cancel()
		end := task(ctx)
		b.mu.Lock()
		defer b.mu.Unlock()
		b.running = false
		end()
	}()
	return true
}

// Stop cancels a running task and waits for it to end.
func (b *Runner) Stop() {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// WriteError answers {"error": msg} with status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON answers v as indented JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // The client may be gone; nothing to do.
}
