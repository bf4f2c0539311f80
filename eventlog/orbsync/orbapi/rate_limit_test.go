package orbapi

import (
	"context"
	"testing"
	"time"
)

// fakeClock is a settable clock for the token bucket.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestTokenBucketSpacesRequests(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(0, 0)}
	b := newTokenBucket(20, 1, clock.now)
	ms := time.Millisecond

	steps := []struct {
		advance time.Duration
		want    time.Duration
	}{
		{0, 0},              // The full bucket serves one at once.
		{0, 50 * ms},        // Then one every 50 ms at 20/s…
		{0, 100 * ms},       // …queued behind the previous waiter.
		{10 * ms, 140 * ms}, // Time passing shortens the wait.
		{time.Second, 0},    // After a long pause the bucket is full again,
		{0, 50 * ms},        // but holds only burst tokens.
	}
	for i, s := range steps {
		clock.advance(s.advance)
		if got := b.reserve(); got != s.want {
			t.Fatalf("step %d: wait %s, want %s", i, got, s.want)
		}
	}
}

func TestTokenBucketBurst(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(0, 0)}
	b := newTokenBucket(10, 3, clock.now)
	for i := range 3 {
		if got := b.reserve(); got != 0 {
			t.Fatalf("request %d within the burst waited %s", i, got)
		}
	}
	if got := b.reserve(); got != 100*time.Millisecond {
		t.Fatalf("request after the burst waited %s, want 100ms", got)
	}
}

func TestTokenBucketCancelReturnsToken(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(0, 0)}
	b := newTokenBucket(1, 1, clock.now)
	b.reserve() // Empty the bucket.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if err := b.wait(ctx, sleepContext); err == nil {
		t.Fatal("wait on a cancelled context succeeded")
	}
	// The cancelled waiter's token went back, so the next waits 1 s, not 2 s.
	if got := b.reserve(); got != time.Second {
		t.Fatalf("next wait %s, want 1s", got)
	}
}

func TestTokenBucketOff(t *testing.T) {
	t.Parallel()
	b := newTokenBucket(-1, 1, time.Now)
	if b != nil {
		t.Fatal("negative rate should turn the limiter off")
	}
	if err := b.wait(t.Context(), sleepContext); err != nil {
		t.Fatalf("nil bucket wait: %v", err)
	}
}
