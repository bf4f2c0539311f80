// Package sleep is the one way orb-sync waits: for a poll interval, a
// retry's backoff or an election round, always cut short when its context
// ends. It imports nothing from orb-sync, so every part of the flow (the
// log's sources and readers, the Orb API client, tools and deploy
// programs) may use it without importing against the flow.
package sleep

import (
	"context"
	"math/rand/v2"
	"time"
)

// For waits for d or until ctx ends; it reports whether d elapsed.
func For(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Jitter returns d spread by ±10% at random, so replicas that poll or
// retry on the same interval drift apart instead of arriving together.
func Jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}
