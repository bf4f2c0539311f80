package cli

import (
	"context"
	"sync"
)

// background runs one long task at a time for serve, away from the request
// that started it: the backfill and the rebuild behind the admin endpoints
// (and the console) each have one, and a snapshot or export can too. The
// task runs under a context that ends at shutdown or on stop, and stop
// waits for it, so serve never exits with a task half done behind its back.
type background struct {
	ctx context.Context // Ends at shutdown.

	mu      sync.Mutex
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newBackground(ctx context.Context) *background { return &background{ctx: ctx} }

// start runs task in a goroutine of its own unless one is running or serve
// is stopping, and reports whether it did. begin runs first, before task
// can call back; what task returns runs when it is over, in the same
// critical section that marks the runner idle, so a caller never sees a
// finished status while a new start would still be refused.
func (b *background) start(begin func(), task func(ctx context.Context) (end func())) bool {
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

// stop cancels a running task and waits for it to end.
func (b *background) stop() {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
