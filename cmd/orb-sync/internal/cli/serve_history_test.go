package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServePausedHistory runs serve with its projector and
// PROJECTOR_HISTORY=customers: the ten other history tables are paused at 0
// while the log grows. Back-pressure (bound 2) must not count them, or its
// lag estimate would stay at the log head and hold every ack; the metrics
// and `orb-sync status` must say they are paused.
func TestServePausedHistory(t *testing.T) {
	t.Parallel()
	b := startServeWith(t, "PROJECTOR_HISTORY=customers", "ORB_BACKPRESSURE_LAG_EVENTS=2", "ORB_BACKPRESSURE_MAX_WAIT=4s")
	s := b.schema
	ids := []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6"}
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, err := b.post(ctx, id)
		cancel()
		if err != nil || code != http.StatusOK {
			t.Fatalf("webhook %s: %d, %v", id, code, err)
		}
	}
	head := float64(len(ids))
	waitFor(t, func() bool {
		return b.metric(t, `orb_projection_checkpoint_seq{projection="customers_history"}`) == head &&
			b.metric(t, `orb_projection_checkpoint_seq{projection="customers"}`) == head
	})
	// The estimate back-pressure holds acks by: 0 once the live tables
	// are caught up, though ten history tables are paused at 0.
	waitFor(t, func() bool { return b.metric(t, "orb_webhook_backpressure_lag_events") == 0 })
	for _, series := range []struct {
		name string
		want float64
	}{
		{`orb_projection_paused{projection="subscriptions_history"}`, 1},
		{`orb_projection_checkpoint_seq{projection="subscriptions_history"}`, 0},
		{`orb_projection_lag_events{projection="subscriptions_history"}`, 0},
		{`orb_projection_paused{projection="customers_history"}`, 0},
	} {
		if got := b.metric(t, series.name); got != series.want {
			t.Errorf("%s = %v, want %v", series.name, got, series.want)
		}
	}

	code, stdout, errOut := runCLI(t, map[string]string{"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name}, "status")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch f[0] {
		case "subscriptions_history", "invoices_history", "prices_history":
			if f[2] != "paused" {
				t.Errorf("status shows %s as %q, want paused:\n%s", f[0], line, stdout)
			}
		case "customers_history", "customers":
			if f[2] != "0" {
				t.Errorf("status shows %s lagging: %q", f[0], line)
			}
		}
	}
	if !strings.Contains(stdout, "subscriptions_history") {
		t.Fatalf("status lists no subscriptions_history:\n%s", stdout)
	}
}
