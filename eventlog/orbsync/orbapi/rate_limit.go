package orbapi

import (
	"context"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
)

// tokenBucket is a client-side rate limiter: it holds up to burst tokens,
// refills at rate tokens per second, and each request takes one. A request
// that finds the bucket empty reserves a future token and waits for it, so
// waiters are served in arrival order and never exceed the rate.
type tokenBucket struct {
	rate  float64 // Tokens per second; > 0.
	burst float64 // Capacity; >= 1.
	now   func() time.Time

	mu     sync.Mutex
	tokens float64 // May go negative: tokens already promised to waiters.
	last   time.Time
}

// newTokenBucket returns a full bucket, or nil (no limit) when rate <= 0.
func newTokenBucket(rate, burst float64, now func() time.Time) *tokenBucket {
	if rate <= 0 {
		return nil
	}
	return &tokenBucket{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// reserve takes a token and returns how long the caller must wait before
// using it.
func (b *tokenBucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// cancel gives back a token reserved by a caller that stopped waiting.
func (b *tokenBucket) cancel() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+1)
}

// wait blocks until a token is available or ctx is done. A nil bucket never
// blocks.
func (b *tokenBucket) wait(ctx context.Context, pause sleepFunc) error {
	if b == nil {
		return ctx.Err()
	}
	d := b.reserve()
	if d <= 0 {
		return ctx.Err()
	}
	if err := pause(ctx, d); err != nil {
		b.cancel()
		return err
	}
	return nil
}

// sleepFunc waits for d or until ctx is done, whichever comes first, and
// returns ctx's error in the second case.
type sleepFunc func(ctx context.Context, d time.Duration) error

// sleepContext is the production sleepFunc.
func sleepContext(ctx context.Context, d time.Duration) error {
	if !sleep.For(ctx, d) {
		return context.Cause(ctx)
	}
	return nil
}
