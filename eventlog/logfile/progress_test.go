package logfile

import (
	"testing"
	"time"
)

func TestProgressRateAndETA(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start.Add(10 * time.Second)
	p := Progress{Events: 250, Total: 1000, Started: start}
	if got := p.Rate(now); got != 25 {
		t.Errorf("Rate = %v, want 25", got)
	}
	if got := p.ETA(now); got != 30*time.Second {
		t.Errorf("ETA = %s, want 30s", got)
	}
	if got := (Progress{Events: 250, Started: start}).ETA(now); got != 0 {
		t.Errorf("ETA without a total = %s, want 0", got)
	}
}
