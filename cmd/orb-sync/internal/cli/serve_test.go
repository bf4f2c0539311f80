package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestServeEndToEnd runs `orb-sync serve` as a process: it migrates an empty
// schema, becomes ready, stores a signed webhook, exports metrics, and on
// SIGTERM drains and exits 0.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmptySchema(t)
	args, base, admin := serveArgs(t)
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=first, second", "LOG_FORMAT=text")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitFor(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	body := []byte(`{"id":"evt_e2e","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_1"},"properties":{}}`)
	stamp := webhook.FormatTimestamp(time.Now())
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks", bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign("second", stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	var n int
	if err := s.Pool.QueryRow(context.Background(), "select count(*) from "+s.Name+".events where event_id = 'evt_e2e'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("stored rows = %d, %v", n, err)
	}
	// The projector running inside serve puts the customer in its table.
	waitFor(t, func() bool {
		var n int
		err := s.Pool.QueryRow(context.Background(), "select count(*) from "+s.Name+".customers where id = 'cus_1'").Scan(&n)
		return err == nil && n == 1
	})
	code, out, errOut := runCLI(t, map[string]string{"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name}, "status")
	if code != 0 || !strings.Contains(out, "customers") || !strings.Contains(out, "log head: 1") {
		t.Errorf("status: exit %d\n%s%s", code, out, errOut)
	}
	metrics := get(t, admin+"/metrics")
	for _, want := range []string{`orb_webhook_requests_total{outcome="stored",type="customer.created"} 1`, "orb_db_pool_connections", "orb_build_info"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if get(t, base+"/healthz") != "ok\n" {
		t.Error("healthz")
	}
	assertPublicHidesAdmin(t, base)

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
	if strings.Contains(stderr.String(), "first") || strings.Contains(stderr.String(), "second,") {
		t.Error("a webhook secret appeared in the logs")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serveArgs are the arguments of `orb-sync serve` on free loopback ports, and
// the base URLs of its public and admin listeners.
func serveArgs(t *testing.T) (args []string, public, admin string) {
	t.Helper()
	port, adminPort := freePort(t), freePort(t)
	args = []string{"serve", "--port", fmt.Sprint(port), "--listen-host", "127.0.0.1",
		"--admin-listen", fmt.Sprintf("127.0.0.1:%d", adminPort)}
	return args, fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", adminPort)
}

// assertPublicHidesAdmin checks that the public webhook port answers 404 for
// everything but POST /webhooks and the probes: an exposed webhook port
// shows neither metrics nor admin endpoints.
func assertPublicHidesAdmin(t *testing.T, public string) {
	t.Helper()
	for _, path := range []string{"/metrics", "/admin/reproject", "/admin/backfill", "/console/", "/debug/pprof/", "/"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, _ := http.NewRequest(method, public+path, nil)
			req.Header.Set("Authorization", "Bearer "+testAdminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("public port: %s %s = %d, want 404", method, path, resp.StatusCode)
			}
		}
	}
}

func TestAdminListenDefault(t *testing.T) {
	env := &environment{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	s := addServeSettings(newFlagSet(env, "serve"), env)
	if *s.adminListen != "127.0.0.1:9090" {
		t.Errorf("default ADMIN_LISTEN = %q, want loopback 127.0.0.1:9090", *s.adminListen)
	}
	for _, bad := range []string{"9090", "localhost", "http://x:1"} {
		if validateAdminListen(bad) == nil {
			t.Errorf("ADMIN_LISTEN=%q accepted", bad)
		}
	}
}
