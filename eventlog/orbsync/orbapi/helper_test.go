package orbapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

// testBundle is a fake Orb server and a client pointed at it.
type testBundle struct {
	srv    *orbapitest.Server
	client *Client
	sleeps *sleepRecorder
	logs   *syncBuffer
}

// setup starts a fake server and a client with no rate limit whose retry
// waits are recorded instead of slept. edit, if not nil, adjusts the
// config first.
func setup(t *testing.T, edit func(*Config)) *testBundle {
	t.Helper()
	srv := orbapitest.New(t)
	logs := &syncBuffer{}
	cfg := Config{
		APIKey:    srv.APIKey,
		BaseURL:   srv.URL,
		RateLimit: -1,
		Timeout:   5 * time.Second,
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	client, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sleeps := &sleepRecorder{}
	client.sleep = sleeps.sleep
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", logs.String())
		}
	})
	return &testBundle{srv: srv, client: client, sleeps: sleeps, logs: logs}
}

// sleepRecorder is a sleepFunc that records waits and returns at once.
type sleepRecorder struct {
	mu sync.Mutex
	ds []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ds = append(r.ds, d)
	return ctx.Err()
}

func (r *sleepRecorder) durations() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.ds...)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// putCustomers adds n customers created one second apart, oldest first,
// with ids cus_00000 and up, and returns their ids.
func putCustomers(t *testing.T, srv *orbapitest.Server, start time.Time, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = customerID(i)
		srv.Put("customers", orbapitest.Object(ids[i], start.Add(time.Duration(i)*time.Second), nil))
	}
	return ids
}

func customerID(i int) string { return fmt.Sprintf("cus_%05d", i) }

// decodeIDs returns the "id" of each raw object.
func decodeIDs(t *testing.T, objs []json.RawMessage) []string {
	t.Helper()
	out := make([]string, len(objs))
	for i, raw := range objs {
		var o struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(raw, &o); err != nil || o.ID == "" {
			t.Fatalf("decoding id of %s: %v", raw, err)
		}
		out[i] = o.ID
	}
	return out
}

// listAll walks a whole list and returns the ids seen, in order.
func listAll(t *testing.T, c *Client, path string, q url.Values) []string {
	t.Helper()
	var seen []string
	err := c.List(t.Context(), path, q, "", func(p Page, _ string) error {
		seen = append(seen, decodeIDs(t, p.Data)...)
		return nil
	})
	if err != nil {
		t.Fatalf("List %s: %v", path, err)
	}
	return seen
}

// limits returns the limit parameter of every logged request.
func limits(reqs []orbapitest.Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.Query.Get("limit")
	}
	return out
}

// query is a shorthand for url.Values literals.
func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return q
}

// newStubServer answers every request with status and body.
func newStubServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}
