package sleep

import (
	"context"
	"testing"
	"time"
)

func TestForWaitsOrStopsWithItsContext(t *testing.T) {
	start := time.Now()
	if !For(context.Background(), 20*time.Millisecond) {
		t.Fatal("For with a live context reported a cut-short wait")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("For returned after %s, before its 20ms", waited)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	if For(ctx, time.Hour) {
		t.Fatal("For with an ended context reported a full wait")
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("For with an ended context waited %s", waited)
	}
}

func TestJitterStaysWithinTenPercent(t *testing.T) {
	const d = time.Second
	lo, hi := d, d
	for range 10000 {
		j := Jitter(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < 900*time.Millisecond || hi > 1100*time.Millisecond {
		t.Fatalf("Jitter(1s) ranged %s-%s, want within 900ms-1.1s", lo, hi)
	}
	if hi-lo < 150*time.Millisecond {
		t.Fatalf("Jitter(1s) ranged only %s-%s over 10000 draws: not spread", lo, hi)
	}
}
