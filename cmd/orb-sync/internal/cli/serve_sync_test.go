package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestServeRunsOrbAPIWorkers runs `orb-sync serve` with an API key against
// the fake Orb API: reconcile runs at start-up, the refetch worker follows
// the log (a balance webhook makes it read the customer again), a backfill started through /admin/backfill completes, and
// SIGTERM stops everything cleanly without printing a secret.
func TestServeRunsOrbAPIWorkers(t *testing.T) {
	t.Parallel()
	s, srv := pgtest.NewEmptySchema(t), orbapitest.New(t)
	putObjects(srv, "plans", "plan", 3)
	putObjects(srv, "customers", "cus", 40)
	args, base, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=whsec", "LOG_FORMAT=text", "ORB_API_KEY="+srv.APIKey, "ORB_BASE_URL="+srv.URL,
		"ORB_API_RATE_LIMIT=1000", "ORB_REFETCH_INTERVAL=50ms", "ADMIN_TOKEN="+testAdminToken)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	count := func(where string) int {
		var n int
		_ = s.Pool.QueryRow(context.Background(), "select count(*) from "+s.Name+".events where "+where).Scan(&n)
		return n
	}
	waitFor(t, func() bool { return count("type = 'snapshot.plan'") == 3 && count("type = 'snapshot.customer'") == 40 })

	// A balance webhook makes the refetch worker read the customer again.
	srv.Put("customers", orbapitest.Object("cus_001", t0.Add(time.Second), map[string]any{"balance": "9.00"}))
	body := []byte(`{"id":"evt_bal","type":"customer.balance_transaction_created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_001","balance":"1.00"},"properties":{}}`)
	stamp := webhook.FormatTimestamp(time.Now())
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign("whsec", stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, func() bool {
		return count("type = 'snapshot.customer' and resource_id = 'cus_001' and payload->'customer'->>'balance' = '9.00'") == 1
	})

	// Start a backfill of invoices through the admin endpoint.
	srv.Put("invoices", orbapitest.Invoice("inv_draft", t0, "draft"))
	req, _ = http.NewRequest(http.MethodPost, admin+"/admin/backfill?entity=invoices", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /admin/backfill: %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return count("type = 'snapshot.invoice'") == 1 })

	assertPublicHidesAdmin(t, base)
	if metrics := get(t, admin+"/metrics"); !strings.Contains(metrics, `orb_sync_snapshot_objects_total{origin="reconcile",outcome="stored",resource="customer"} 40`) {
		t.Errorf("metrics lack the reconcile counts:\n%s", metrics)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	for _, secret := range []string{srv.APIKey, testAdminToken} {
		if strings.Contains(stderr.String(), secret) {
			t.Fatalf("a secret appeared in the logs:\n%s", stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "orb api workers started") {
		t.Errorf("no start-up line for the workers:\n%s", stderr.String())
	}
}
