package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestAckPathKeepsAConnection runs serve at the smallest pool size while
// reconcile, repair and a backfill are all stuck mid-pass on an Orb API
// that does not answer: each holds its job's lock, and none of that may
// take the connections the webhook path needs, so deliveries are still
// acknowledged promptly.
func TestAckPathKeepsAConnection(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmptySchema(t)
	var inflight atomic.Int32
	release := make(chan struct{})
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inflight.Add(1)
		defer inflight.Add(-1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "released", http.StatusServiceUnavailable)
	}))
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(api.Close)
	t.Cleanup(unblock)

	args, base, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=whsec", "LOG_FORMAT=text", "ORB_API_KEY=test-key", "ORB_BASE_URL="+api.URL,
		"ADMIN_TOKEN="+testAdminToken, "DATABASE_MAX_CONNS=3", "DATABASE_BACKGROUND_MAX_CONNS=2")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, func() bool { return inflight.Load() >= 2 }) // Reconcile and repair, at start-up.
	waitFor(t, func() bool {                                // The listeners start after the workers.
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	req, _ := http.NewRequest(http.MethodPost, admin+"/admin/backfill", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /admin/backfill: %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return inflight.Load() >= 3 })

	// Five concurrent deliveries, each answered well within Orb's 5 s.
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			body := fmt.Appendf(nil, `{"id":"evt_pool_%d","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_%d"},"properties":{}}`, i, i)
			stamp := webhook.FormatTimestamp(time.Now())
			req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(body))
			req.Header.Set(webhook.HeaderTimestamp, stamp)
			req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign("whsec", stamp, body))
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("delivery %d: %d", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if inflight.Load() < 3 {
		t.Fatal("the background passes were no longer stuck while the deliveries ran; the test proved nothing")
	}
	unblock()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.Logf("serve's log:\n%s", stderr.String())
	}
}
