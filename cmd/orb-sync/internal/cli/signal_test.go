package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestSecondSignalForcesExit holds a webhook in flight (the log head is
// locked by the test), so the drain after SIGTERM cannot finish; a second
// SIGTERM must end the process at once with status 130.
func TestSecondSignalForcesExit(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmptySchema(t)
	args, base, _ := serveArgs(t)
	stderr := &lockedBuffer{}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=whsec", "LOG_FORMAT=text")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "msg=serving") })

	ctx := context.Background()
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "select seq from "+s.Name+".log_head for update"); err != nil {
		t.Fatal(err)
	}
	go sendInFlight(base+"/webhooks", "whsec", "evt_in_flight") // Answered or cut off; either is fine.
	waitFor(t, func() bool {
		var n int
		_ = s.Pool.QueryRow(ctx, "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query similar to $1",
			"%"+s.Name+"%(log_head|append_events)%").Scan(&n)
		return n > 0
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "shutting down") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // For the cleanup.
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitForced {
			t.Fatalf("serve ended with %v, want exit status %d\n%s", err, exitForced, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still draining 10 s after a second SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "second signal") {
		t.Errorf("no word about the forced exit:\n%s", stderr.String())
	}
}

func sendInFlight(url, secret, id string) {
	body := []byte(`{"id":"` + id + `","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"cus_1"},"properties":{}}`)
	stamp := webhook.FormatTimestamp(time.Now())
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(webhook.HeaderTimestamp, stamp)
	req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(secret, stamp, body))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
