package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// limitsBundle is a receiver with explicit limits over a real appender.
func limitsBundle(t *testing.T, cfg ReceiverConfig) (*testBundle, *syncBuffer) {
	t.Helper()
	s := pgtest.NewSchema(t)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(a.Stop)
	cfg.Secrets, cfg.Logger = []string{testSecret}, logger
	rc, err := NewReceiver(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{schema: s, appender: a, now: time.Now(), server: httptest.NewServer(rc)}
	t.Cleanup(b.server.Close)
	return b, logs
}

// paddedBody is an event body of about n bytes.
func paddedBody(id string, n int) []byte {
	pad := strings.Repeat("x", n)
	return fmt.Appendf(nil, `{"id": %q, "created_at": "2025-01-08T08:19:20Z", "type": "customer.edited", "customer": {"id": "cus_1"}, "properties": {"note": %q}}`, id, pad)
}

// TestReceiverBoundsInflightBytes holds the log's head lock so a first
// large delivery waits for its commit; a second one that would take the
// bytes in flight over the bound is answered 503 at once (Orb retries)
// instead of piling up in memory, and succeeds once the first is done.
func TestReceiverBoundsInflightBytes(t *testing.T) {
	t.Parallel()
	b, _ := limitsBundle(t, ReceiverConfig{MaxBodyBytes: 64 << 10, InflightBytes: 64 << 10,
		InflightWait: 100 * time.Millisecond, AppendTimeout: time.Minute})
	ctx := context.Background()
	tx, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "select seq from "+b.schema.Name+".log_head for update"); err != nil {
		t.Fatal(err)
	}

	first := make(chan int, 1)
	go func() {
		status, _ := b.post(t, paddedBody("evt_first", 40<<10), testSecret, time.Now())
		first <- status
	}()
	waitUntil(t, func() bool { return b.lockWaiters(t) > 0 })

	status, body := b.post(t, paddedBody("evt_second", 40<<10), testSecret, time.Now())
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "in flight") {
		t.Fatalf("second delivery over the bound: %d %s, want 503 'in flight'", status, body)
	}
	// A small one still fits.
	smallDone := make(chan int, 1)
	go func() {
		status, _ := b.post(t, paddedBody("evt_small", 1<<10), testSecret, time.Now())
		smallDone <- status
	}()
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if s := <-first; s != http.StatusOK {
		t.Fatalf("first delivery: %d", s)
	}
	if s := <-smallDone; s != http.StatusOK {
		t.Fatalf("small delivery: %d", s)
	}
	if status, body := b.post(t, paddedBody("evt_second", 40<<10), testSecret, time.Now()); status != http.StatusOK {
		t.Fatalf("second delivery retried: %d %s", status, body)
	}
}

// TestReceiverBadSignatureLogsAreSampled sends a flood of unsigned
// requests: all are refused and counted, but the log gets one warning per
// interval, which says how many it stands for.
func TestReceiverBadSignatureLogsAreSampled(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := &now
	var mu sync.Mutex
	b, logs := limitsBundle(t, ReceiverConfig{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return *clock }})
	for i := range 50 {
		if status, _ := b.post(t, eventBody(fmt.Sprint("evt_", i), "customer.created"), "wrong-secret", now); status != http.StatusUnauthorized {
			t.Fatalf("status %d", status)
		}
	}
	mu.Lock()
	*clock = now.Add(refusedLogEvery)
	mu.Unlock()
	if status, _ := b.post(t, eventBody("evt_late", "customer.created"), "wrong-secret", now); status != http.StatusUnauthorized {
		t.Fatalf("status %d", status)
	}
	out := logs.String()
	if n := strings.Count(out, "webhook refused"); n != 2 {
		t.Fatalf("%d refusal warnings for 51 refused requests, want 2 (one per interval):\n%s", n, out)
	}
	if !strings.Contains(out, "refused_since_last_warning=50") {
		t.Errorf("the second warning does not count the suppressed ones:\n%s", out)
	}
}

func (b *testBundle) lockWaiters(t *testing.T) int {
	t.Helper()
	var n int
	err := b.schema.Pool.QueryRow(context.Background(),
		"select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query similar to $1",
		"%"+b.schema.Name+"%(log_head|append_events)%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls cond for up to 20 seconds.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
