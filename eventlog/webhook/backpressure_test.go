package webhook

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestNewBackpressureRefusesBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  BackpressureConfig
		want string
	}{
		{"no bound", BackpressureConfig{}, "lag bound 0 must be at least 1"},
		{"hold past Orb's timeout", BackpressureConfig{LagEvents: 1, MaxWait: 5 * time.Second}, "between 0 and 4s"},
		{"negative hold", BackpressureConfig{LagEvents: 1, MaxWait: -time.Second}, "between 0 and 4s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewBackpressure(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
	b, err := NewBackpressure(BackpressureConfig{LagEvents: 1})
	if err != nil || b.cfg.MaxWait != BackpressureMaxWaitDefault {
		t.Fatalf("defaults: %v, max wait %s", err, b.cfg.MaxWait)
	}
}

// TestBackpressureWakesOnUpdate: a held ack goes when an Update brings the
// lag under the bound, or says no projector advances, long before the
// longest hold.
func TestBackpressureWakesOnUpdate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		lag       int64
		advancing bool
	}{{"caught up", 10, true}, {"stalled", 500, false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := NewBackpressure(BackpressureConfig{LagEvents: 100, MaxWait: BackpressureMaxWaitLimit})
			if err != nil {
				t.Fatal(err)
			}
			b.Update(500, true)
			done := make(chan struct{})
			go func() { b.hold(context.Background()); close(done) }()
			b.Update(400, true) // Still over: still held.
			select {
			case <-done:
				t.Fatal("released while over the bound")
			default:
			}
			b.Update(tt.lag, tt.advancing)
			ctx, cancel := context.WithTimeout(context.Background(), BackpressureMaxWaitLimit/2)
			defer cancel()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("not released by the update")
			}
		})
	}
}

// TestBackpressureOutOfReach: a lag far past the bound (a backfill of a
// million events, a new projection catching up from 0) was not made by
// the acks a hold could slow: nothing is held then, and an ack held when
// the lag jumps there goes at once.
func TestBackpressureOutOfReach(t *testing.T) {
	t.Parallel()
	b, err := NewBackpressure(BackpressureConfig{LagEvents: 100, MaxWait: BackpressureMaxWaitLimit})
	if err != nil {
		t.Fatal(err)
	}
	released := func(what string, done <-chan struct{}) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), BackpressureMaxWaitLimit/2)
		defer cancel()
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("%s: held", what)
		}
	}
	b.Update(1_000_000, true)
	done := make(chan struct{})
	go func() { b.hold(context.Background()); close(done) }()
	released("a lag of 10,000 times the bound", done)

	b.Update(400, true) // Within reach: held.
	done = make(chan struct{})
	go func() { b.hold(context.Background()); close(done) }()
	b.Update(300, true)
	select {
	case <-done:
		t.Fatal("released while over the bound and within reach")
	default:
	}
	b.Update(100+100*backpressureReach, true) // A bulk append lands.
	released("the lag jumping out of reach", done)
}

// TestBackpressureClose: on shutdown held acks go at once (the drain does
// not wait MaxWait for them) and none is held after; a nil gate is fine.
func TestBackpressureClose(t *testing.T) {
	t.Parallel()
	b, err := NewBackpressure(BackpressureConfig{LagEvents: 100, MaxWait: BackpressureMaxWaitLimit})
	if err != nil {
		t.Fatal(err)
	}
	b.Update(300, true)
	done := make(chan struct{})
	go func() { b.hold(context.Background()); close(done) }()
	b.Update(300, true)
	b.Close()
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), BackpressureMaxWaitLimit/2)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("held past Close")
	}
	if hold, why, _ := b.state(); hold || why != releaseClosed {
		t.Fatalf("after Close: hold %v (%s)", hold, why)
	}
	var nilGate *Backpressure
	nilGate.Close()
}
