package projector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// lagReadings records what a LagWatcher reports.
type lagReadings struct {
	mu        sync.Mutex
	lag       int64
	advancing bool
	n         int
}

func (r *lagReadings) update(lag int64, advancing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lag, r.advancing, r.n = lag, advancing, r.n+1
}

func (r *lagReadings) last() (lag int64, advancing bool, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lag, r.advancing, r.n
}

// TestLagWatcherAdvancing pins down "advancing": the slowest checkpoint of
// the projections this binary maintains was seen to move within the
// window. Without checkpoints, before any move, and once the window has
// passed without one, no projector is advancing.
func TestLagWatcherAdvancing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var got lagReadings
	w, err := NewLagWatcher(b.schema.Pool, LagWatcherConfig{Schema: b.schema.Name, AdvancingWindow: 10 * time.Second,
		UpdateFunc: got.update, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, lag int64, advancing bool) {
		t.Helper()
		if err := w.read(ctx); err != nil {
			t.Fatal(err)
		}
		if l, a, _ := got.last(); l != lag || a != advancing {
			t.Fatalf("%s: lag %d advancing %v, want %d %v", what, l, a, lag, advancing)
		}
	}
	b.append(t, event(t, "e1", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}),
		event(t, "e2", "customer.edited", at(2), map[string]any{"customer": customerObj(t, "cus_1")}))
	expect("no checkpoints", 0, false)
	if err := ensureCheckpoints(ctx, b.schema.Pool, b.schema.Name, Projections()); err != nil {
		t.Fatal(err)
	}
	expect("checkpoints never seen to move", 2, false)
	// A stale row of a projection this binary does not maintain is not
	// the slowest: nothing would ever advance it.
	if _, err := b.schema.Pool.Exec(ctx, "insert into "+b.schema.Name+".projection_checkpoints (projection, version) values ('retired', 1)"); err != nil {
		t.Fatal(err)
	}
	b.drain(t, 1000)
	expect("caught up", 0, true)
	b.append(t, event(t, "e3", "customer.edited", at(3), map[string]any{"customer": customerObj(t, "cus_1")}))
	now = now.Add(10 * time.Second)
	expect("moved 10 s ago", 1, true)
	now = now.Add(time.Millisecond)
	expect("still since the window", 1, false)
	b.drain(t, 1000)
	expect("moving again", 0, true)
}

// TestLagWatcherNudgedByRounds: with Interval far away, only the
// projector's AfterRoundFunc makes the watcher read, so seeing the
// caught-up lag proves each round nudges it.
func TestLagWatcherNudgedByRounds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var got lagReadings
	w, err := NewLagWatcher(b.schema.Pool, LagWatcherConfig{Schema: b.schema.Name, Interval: time.Hour, UpdateFunc: got.update})
	if err != nil {
		t.Fatal(err)
	}
	b.append(t, event(t, "e1", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}))
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if _, advancing, _ := got.last(); advancing {
		t.Fatal("advancing before any checkpoint moved")
	}
	b.start(t, Config{AfterRoundFunc: w.Nudge})
	// The first round creates the checkpoints and moves them: seen for the
	// first time, that is no move yet.
	waitFor(t, "a nudged reading of the caught-up lag", func() bool {
		_, _, n := got.last()
		return n > 1
	})
	b.append(t, event(t, "e2", "customer.edited", at(2), map[string]any{"customer": customerObj(t, "cus_1")}))
	waitFor(t, "a nudged reading of the moved checkpoints", func() bool {
		lag, advancing, _ := got.last()
		return lag == 0 && advancing
	})
	w.Stop()
	w.Stop() // Twice is fine.
}

// TestLagWatcherReadFailureStopsHolding: when the database cannot be read,
// the watcher reports the last lag with no projector advancing, so acks
// are not held on a figure it cannot refresh.
func TestLagWatcherReadFailureStopsHolding(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	proxy, url := pgtest.NewProxy(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var got lagReadings
	w, err := NewLagWatcher(pool, LagWatcherConfig{Schema: b.schema.Name, UpdateFunc: got.update})
	if err != nil {
		t.Fatal(err)
	}
	if err := ensureCheckpoints(ctx, b.schema.Pool, b.schema.Name, Projections()); err != nil {
		t.Fatal(err)
	}
	b.append(t, event(t, "e1", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}))
	if err := w.read(ctx); err != nil {
		t.Fatal(err)
	}
	b.drain(t, 1000)
	b.append(t, event(t, "e2", "customer.edited", at(2), map[string]any{"customer": customerObj(t, "cus_1")}))
	if err := w.read(ctx); err != nil {
		t.Fatal(err)
	}
	if lag, advancing, _ := got.last(); lag != 1 || !advancing {
		t.Fatalf("lag %d advancing %v, want 1 true", lag, advancing)
	}
	proxy.Break()
	if err := w.read(ctx); err == nil {
		t.Fatal("a read through a broken connection succeeded")
	}
	if lag, advancing, _ := got.last(); lag != 1 || advancing {
		t.Fatalf("after a failed read: lag %d advancing %v, want 1 false", lag, advancing)
	}
}
