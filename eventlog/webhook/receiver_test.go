package webhook

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

func TestReceiverAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	now := time.Now()
	tests := []struct {
		name     string
		body     []byte
		secret   string
		ts       time.Time
		status   int
		contains string
		stored   bool
	}{
		{"stored", eventBody("evt_ok", "customer.created"), testSecret, now, 200, `"received":true`, true},
		{"older secret accepted", eventBody("evt_old_secret", "customer.created"), "older-secret", now, 200, `"received":true`, true},
		{"unknown type stored", eventBody("evt_new_type", "brand_new.thing"), testSecret, now, 200, `"received":true`, true},
		{"wrong secret", eventBody("evt_bad_sig", "customer.created"), "nope", now, 401, "no signature matches", false},
		{"stale timestamp", eventBody("evt_stale", "customer.created"), testSecret, now.Add(-10 * time.Minute), 401, "too old", false},
		{"future timestamp", eventBody("evt_future", "customer.created"), testSecret, now.Add(10 * time.Minute), 401, "too new", false},
		{"not an object", []byte(`["evt_array"]`), testSecret, now, 400, "not a JSON object", false},
		{"missing type", []byte(`{"id":"evt_no_type","created_at":"2025-01-08T08:19:20Z"}`), testSecret, now, 400, `missing \"type\"`, false},
		{"too large", append(eventBody("evt_big", "customer.created"), bytes.Repeat([]byte(" "), 70<<10)...), testSecret, now, 413, "exceeds", false},
	}
	for _, tt := range tests {
		status, body := b.post(t, tt.body, tt.secret, tt.ts)
		if status != tt.status || !strings.Contains(body, tt.contains) {
			t.Errorf("%s: got %d %s, want %d containing %q", tt.name, status, body, tt.status, tt.contains)
		}
	}
	if got := b.count(t, ""); got != 3 {
		t.Errorf("stored %d events, want 3", got)
	}

	// The stored row is the exact body, with headers to re-verify it.
	var raw, compressed []byte
	var stamp, sig, resType, resID string
	err := b.schema.Pool.QueryRow(context.Background(),
		"select "+eventlog.BodyColumns+", orb_timestamp, orb_signature, resource_type, resource_id from "+b.schema.Name+".events where event_id = 'evt_ok'").
		Scan(&raw, &compressed, &stamp, &sig, &resType, &resID)
	if err != nil {
		t.Fatal(err)
	}
	body, err := eventlog.DecodeBody(raw, compressed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, eventBody("evt_ok", "customer.created")) {
		t.Error("stored body differs from the bytes sent")
	}
	if !eventlog.SignatureMatches(stamp, sig, body, []string{testSecret}) {
		t.Error("stored event does not re-verify")
	}
	if resType != "customer" || resID != "cus_evt_ok" {
		t.Errorf("resource = %s/%s", resType, resID)
	}
}

func TestReceiverMissingHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	resp, err := http.Post(b.server.URL, "application/json", bytes.NewReader(eventBody("e", "customer.created")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("unsigned request: %d, want 401", resp.StatusCode)
	}
}

func TestReceiverDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	body := eventBody("evt_dup", "invoice.issued")
	if status, _ := b.post(t, body, testSecret, time.Now()); status != 200 {
		t.Fatalf("first delivery: %d", status)
	}
	status, resp := b.post(t, body, testSecret, time.Now())
	if status != 200 || !strings.Contains(resp, `"duplicate":true`) {
		t.Fatalf("second delivery: %d %s", status, resp)
	}
	if got := b.count(t, "event_id = 'evt_dup'"); got != 1 {
		t.Fatalf("%d rows for a delivered-twice event", got)
	}
}

func TestReceiverConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const senders = 24
	var wg sync.WaitGroup
	statuses := make([]int, senders)
	for i := range senders {
		wg.Go(func() {
			// Several ids, each delivered by several senders at once.
			id := []string{"evt_a", "evt_b", "evt_c"}[i%3]
			statuses[i], _ = b.post(t, eventBody(id, "customer.edited"), testSecret, time.Now())
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("sender %d got %d", i, s)
		}
	}
	if got := b.count(t, ""); got != 3 {
		t.Fatalf("stored %d rows, want 3", got)
	}
	assertGapless(t, b.schema)
}

// TestReceiverDatabaseGoesAway cuts the database connection while senders
// are busy: every delivery answered 200 must be in the log, every other one
// must have been answered 503 (so Orb retries), and once the database is
// back, deliveries succeed again.
func TestReceiverDatabaseGoesAway(t *testing.T) {
	t.Parallel()
	proxy, url := pgtest.NewProxy(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := setup(t, pool)

	var (
		mu    sync.Mutex
		acked []string
		other = map[int]int{}
		wg    sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				id := "evt_" + string(rune('a'+w)) + "_" + itoa(i)
				status, _ := b.post(t, eventBody(id, "customer.edited"), testSecret, time.Now())
				mu.Lock()
				if status == 200 {
					acked = append(acked, id)
				} else {
					other[status]++
				}
				mu.Unlock()
				if w == 0 && i == 10 {
					proxy.Break()
				}
				if w == 0 && i == 25 {
					proxy.Heal()
				}
			}
		})
	}
	wg.Wait()
	for status := range other {
		if status != http.StatusServiceUnavailable {
			t.Errorf("got status %d while the database was away, want only 503", status)
		}
	}
	if other[http.StatusServiceUnavailable] == 0 {
		t.Error("no delivery failed: the outage did not happen")
	}
	for _, id := range acked {
		if b.count(t, "event_id = $1", id) != 1 {
			t.Errorf("acknowledged event %s is not in the log", id)
		}
	}
	// Back to normal after the outage.
	if status, _ := b.post(t, eventBody("evt_after", "customer.edited"), testSecret, time.Now()); status != 200 {
		t.Errorf("after the outage: %d", status)
	}
	assertGapless(t, b.schema)
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// assertGapless checks the log's central invariant: positions 1..head, no
// holes, and log_head agrees.
func assertGapless(t *testing.T, s *pgtest.Schema) {
	t.Helper()
	var n, maxSeq, head int64
	err := s.Pool.QueryRow(context.Background(),
		"select count(*), coalesce(max(seq), 0), (select seq from "+s.Name+".log_head) from "+s.Name+".events").Scan(&n, &maxSeq, &head)
	if err != nil {
		t.Fatal(err)
	}
	if n != maxSeq || head != maxSeq {
		t.Fatalf("log has %d rows, max seq %d, head %d: not gapless", n, maxSeq, head)
	}
}

// TestReceiverRefusesOtherContentTypes: a correctly signed event sent as
// something other than JSON gets 415 and is not stored; no Content-Type
// and application/json with parameters are accepted.
func TestReceiverRefusesOtherContentTypes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i, tt := range []struct {
		contentType string
		status      int
	}{
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"application/json; charset=utf-8", http.StatusOK},
		{"", http.StatusOK},
	} {
		body := eventBody(fmt.Sprintf("evt_ct_%d", i), "customer.created")
		req, err := http.NewRequest(http.MethodPost, b.server.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		stamp := FormatTimestamp(time.Now())
		req.Header.Set(HeaderTimestamp, stamp)
		req.Header.Set(HeaderSignature, "v1="+eventlog.Sign(testSecret, stamp, body))
		if tt.contentType != "" {
			req.Header.Set("Content-Type", tt.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("Content-Type %q: %d, want %d", tt.contentType, resp.StatusCode, tt.status)
		}
	}
	if got := b.count(t, ""); got != 2 {
		t.Errorf("stored %d events, want the 2 sent as JSON", got)
	}
}

// TestReceiverSlowBodyGets408: a body dripped slower than BodyTimeout gets
// 408 and nothing is stored.
func TestReceiverSlowBodyGets408(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc, err := NewReceiver(b.appender, ReceiverConfig{Secrets: []string{testSecret}, BodyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	body := eventBody("evt_drip", "customer.created")
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stamp := FormatTimestamp(time.Now())
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s: %s\r\n%s: v1=%s\r\n\r\n%s",
		len(body), HeaderTimestamp, stamp, HeaderSignature, eventlog.Sign(testSecret, stamp, body), body[:10])
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("slow body answered %d, want 408", resp.StatusCode)
	}
	if got := b.count(t, ""); got != 0 {
		t.Fatalf("stored %d events", got)
	}
}

// TestReceiverStoresLargeBodyExactly: a recorded ~54 KB subscription
// webhook, large enough that its compression and refs are built on
// goroutines of their own while the envelope is parsed (Event.Prepare),
// is stored byte for byte, re-verifies, and has the refs the log itself
// would build from its payload.
func TestReceiverStoresLargeBodyExactly(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	fixture, err := os.ReadFile("webhooktest/fixtures/subscription.json")
	if err != nil {
		t.Fatal(err)
	}
	sent := bytes.Replace(fixture, []byte("<subscription.type>"), []byte("subscription.edited"), 1)
	if len(sent) < 32<<10 {
		t.Fatalf("fixture is %d bytes: too small to exercise the parallel preparation", len(sent))
	}
	if status, body := b.post(t, sent, testSecret, time.Now()); status != 200 {
		t.Fatalf("got %d %s", status, body)
	}
	var raw, compressed []byte
	var stamp, sig string
	var refsMatch, hasRefs bool
	err = b.schema.Pool.QueryRow(context.Background(),
		"select "+eventlog.BodyColumns+", orb_timestamp, orb_signature, refs is not null, refs is not distinct from "+
			b.schema.Name+".event_refs(payload) from "+b.schema.Name+".events where type = 'subscription.edited'").
		Scan(&raw, &compressed, &stamp, &sig, &hasRefs, &refsMatch)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := eventlog.DecodeBody(raw, compressed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, sent) {
		t.Errorf("stored body (%d bytes) differs from the %d bytes sent", len(stored), len(sent))
	}
	if !eventlog.SignatureMatches(stamp, sig, stored, []string{testSecret}) {
		t.Error("stored event does not re-verify")
	}
	if !hasRefs || !refsMatch {
		t.Errorf("refs stored: %v, equal to event_refs(payload): %v", hasRefs, refsMatch)
	}
}
