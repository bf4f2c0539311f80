package webhook

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/orb-sync/orb-sync/eventlog"
)

// TestUnstorableSignedEventGets400: a correctly signed event PostgreSQL
// can never store (nested 100,000 deep; a customer id too big for the
// resource index) gets 400 with the reason, is counted as unstorable, and
// is not stored; Orb would retry a 503 for days. A valid event sent right
// after is stored.
func TestUnstorableSignedEventGets400(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	metrics := NewMetrics(prometheus.NewRegistry())
	rc, err := NewReceiver(b.appender, ReceiverConfig{Secrets: []string{testSecret}, MaxBodyBytes: 1 << 20, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	b.server = httptest.NewServer(rc)
	defer b.server.Close()
	for _, body := range [][]byte{eventlog.UnstorableDeepBody("deep"), eventlog.UnstorableLongIDBody("long")} {
		code, answer := b.post(t, body, testSecret, time.Now())
		if code != http.StatusBadRequest || !strings.Contains(answer, "cannot be stored") {
			t.Errorf("unstorable event answered %d %s", code, answer)
		}
	}
	if code, answer := b.post(t, eventBody("fine", "customer.edited"), testSecret, time.Now()); code != http.StatusOK {
		t.Errorf("valid event after the unstorable ones: %d %s", code, answer)
	}
	if got := testutil.ToFloat64(metrics.webhooks.WithLabelValues("customer.edited", outcomeUnstorable)); got != 2 {
		t.Errorf("counted %v unstorable requests, want 2", got)
	}
	if got := b.count(t, ""); got != 1 {
		t.Fatalf("stored %d events, want only the valid one", got)
	}
}
