package orbapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

func TestGetReturnsObjectVerbatim(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	raw := []byte(`{"id":"a/b c","created_at":"2025-01-08T08:19:20+00:00","unknown_new_field":{"x":[1,2]}}`)
	b.srv.Put("customers", raw)

	got, err := b.client.Get(t.Context(), "customers", "a/b c")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if string(got) != string(raw) {
		t.Fatalf("got %s, want %s", got, raw)
	}
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	_, err := b.client.Get(t.Context(), "plans", "DBhwNcMNfYgeBpn")

	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %T, want *APIError", err)
	}
	want := APIError{
		Status: 404,
		Type:   "https://docs.withorb.com/reference/error-responses#404-resource-not-found",
		Title:  "A specified resource was not found.",
		Detail: "Could not find a resource of type Plan with identifier: DBhwNcMNfYgeBpn.",
	}
	if apiErr.Status != want.Status || apiErr.Type != want.Type || apiErr.Title != want.Title || apiErr.Detail != want.Detail {
		t.Fatalf("got %+v, want %+v", *apiErr, want)
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests, want 1 (404 is not retried)", n)
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	const wrongKey = "orb_live_wrong_key_123"
	b := setup(t, func(c *Config) { c.APIKey = wrongKey })

	_, err := b.client.ListPage(t.Context(), "customers", nil, "")

	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "orb api rejected the API key (401): check ORB_API_KEY") {
		t.Errorf("message %q does not explain the cause", msg)
	}
	for _, key := range []string{wrongKey, b.srv.APIKey} {
		if strings.Contains(msg, key) || strings.Contains(b.logs.String(), key) {
			t.Errorf("key %q leaked into the error or log", key)
		}
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests, want 1 (401 is not retried)", n)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	tests := []struct {
		name       string
		faults     []orbapitest.Fault
		wantSleeps []time.Duration // Exact waits; nil to check backoff ranges instead.
		wantStatus int             // Status of the final error; 0 for success.
	}{
		{
			name:       "429 with Retry-After seconds",
			faults:     []orbapitest.Fault{{Status: 429, RetryAfter: "1"}},
			wantSleeps: []time.Duration{time.Second},
		},
		{
			name:       "429 with Retry-After-Ms",
			faults:     []orbapitest.Fault{{Status: 429, Header: http.Header{"Retry-After-Ms": {"250"}}}},
			wantSleeps: []time.Duration{250 * ms},
		},
		{
			name:   "429 without Retry-After backs off",
			faults: []orbapitest.Fault{{Status: 429}, {Status: 429}},
		},
		{
			name:   "500 then success",
			faults: []orbapitest.Fault{{Status: 500}},
		},
		{
			name:   "408 and 409 are retried",
			faults: []orbapitest.Fault{{Status: 408}, {Status: 409}},
		},
		{
			name:       "x-should-retry false wins over 503",
			faults:     []orbapitest.Fault{{Status: 503, Header: http.Header{"X-Should-Retry": {"false"}}}},
			wantSleeps: []time.Duration{},
			wantStatus: 503,
		},
		{
			name:   "x-should-retry true wins over 400",
			faults: []orbapitest.Fault{{Status: 400, Header: http.Header{"X-Should-Retry": {"true"}}}},
		},
		{
			name:       "400 is not retried",
			faults:     []orbapitest.Fault{{Status: 400}},
			wantSleeps: []time.Duration{},
			wantStatus: 400,
		},
		{
			name:       "retries exhausted",
			faults:     slices.Repeat([]orbapitest.Fault{{Status: 502}}, 6),
			wantStatus: 502,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			b.srv.Put("customers", orbapitest.Object("cus_1", t0, nil))
			for _, f := range tt.faults {
				b.srv.Inject(1, f)
			}

			_, err := b.client.Get(t.Context(), "customers", "cus_1")

			var apiErr *APIError
			switch {
			case tt.wantStatus == 0 && err != nil:
				t.Fatalf("Get: %v", err)
			case tt.wantStatus != 0 && (!errors.As(err, &apiErr) || apiErr.Status != tt.wantStatus):
				t.Fatalf("got %v, want a %d APIError", err, tt.wantStatus)
			}
			sleeps := b.sleeps.durations()
			if n, want := b.srv.RequestCount(), len(sleeps)+1; n != want {
				t.Fatalf("got %d requests for %d waits", n, len(sleeps))
			}
			if tt.wantSleeps != nil {
				if !slices.Equal(sleeps, tt.wantSleeps) {
					t.Fatalf("waits %v, want %v", sleeps, tt.wantSleeps)
				}
				return
			}
			wantWaits := len(tt.faults)
			if tt.wantStatus != 0 {
				wantWaits-- // No wait after the last attempt.
			}
			if len(sleeps) != wantWaits {
				t.Fatalf("got %d waits, want %d", len(sleeps), wantWaits)
			}
			for i, d := range sleeps {
				full := min(retryBaseDefault<<i, retryMaxDefault)
				if d > full || d < full*3/4 {
					t.Errorf("wait %d = %s, want within 25%% below %s", i, d, full)
				}
			}
		})
	}
}

func TestRetriesExhaustedMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxRetries = 2 })
	b.srv.Inject(3, orbapitest.Fault{Status: 500})

	_, err := b.client.Get(t.Context(), "customers", "cus_1")

	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("got %v, want a give-up error", err)
	}
	if strings.Contains(b.logs.String(), b.srv.APIKey) {
		t.Fatal("API key in the retry log")
	}
}

func TestRetriesOffWhenNegative(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxRetries = -1 })
	b.srv.Inject(1, orbapitest.Fault{Status: 429})

	if _, err := b.client.Get(t.Context(), "customers", "cus_1"); err == nil {
		t.Fatal("got success, want the 429")
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests, want 1", n)
	}
}

func TestSlowResponseTimesOutAndRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Timeout = 100 * time.Millisecond })
	b.srv.Put("customers", orbapitest.Object("cus_1", t0, nil))
	b.srv.Inject(1, orbapitest.Fault{Delay: time.Minute}) // Ends when the client hangs up.

	if _, err := b.client.Get(t.Context(), "customers", "cus_1"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n := b.srv.RequestCount(); n != 2 {
		t.Fatalf("got %d requests, want a timed-out one and a retry", n)
	}
	if !strings.Contains(b.logs.String(), "orb request timed out after 100ms") {
		t.Errorf("timeout not named in the log:\n%s", b.logs.String())
	}
}

func TestSlowResponsesExhaustRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.Timeout = 50 * time.Millisecond
		c.MaxRetries = 1
	})
	b.srv.Inject(2, orbapitest.Fault{Delay: time.Minute})

	_, err := b.client.Get(t.Context(), "customers", "cus_1")

	if err == nil || !strings.Contains(err.Error(), "orb request timed out after 50ms") {
		t.Fatalf("got %v, want a named timeout", err)
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c, err := New(Config{APIKey: "k", BaseURL: closed.URL, RateLimit: -1, MaxRetries: 2})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sleeps := &sleepRecorder{}
	c.sleep = sleeps.sleep

	_, err = c.Get(t.Context(), "customers", "cus_1")

	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("got %v, want a give-up error", err)
	}
	if n := len(sleeps.durations()); n != 2 {
		t.Fatalf("got %d waits, want 2", n)
	}
}

func TestCancelStopsRetryWait(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.srv.Inject(1, orbapitest.Fault{Status: 429, RetryAfter: "30"})
	ctx, cancel := context.WithCancel(t.Context())
	var waited time.Duration
	b.client.sleep = func(ctx context.Context, d time.Duration) error {
		waited = d
		cancel() // Cancelled mid-wait: the real sleep must return at once.
		return sleepContext(ctx, d)
	}

	start := time.Now()
	_, err := b.client.Get(ctx, "customers", "cus_1")

	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 429 {
		t.Fatalf("got %v, want the last 429 kept in the error", err)
	}
	if waited != 30*time.Second || time.Since(start) > 10*time.Second {
		t.Fatalf("waited for %s, took %s; want a 30s wait cut short", waited, time.Since(start))
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests after cancel, want 1", n)
	}
}

func TestSleepContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(t.Context())
	errStop := errors.New("stopping")
	cancel(errStop)
	if err := sleepContext(ctx, time.Hour); !errors.Is(err, errStop) {
		t.Fatalf("got %v, want the cancel cause", err)
	}
	if err := sleepContext(t.Context(), time.Millisecond); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.srv.Put("customers", orbapitest.Object("cus_1", t0, map[string]any{"name": strings.Repeat("x", 100)}))
	b.client.maxBody = 64

	_, err := b.client.Get(t.Context(), "customers", "cus_1")

	if !errors.Is(err, errBodyTooLarge) {
		t.Fatalf("got %v, want errBodyTooLarge", err)
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests, want 1 (not retried)", n)
	}
}

func TestRateLimiterIsShared(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.srv.Put("customers", orbapitest.Object("cus_1", t0, nil))
	frozen := time.Now()
	b.client.limiter = newTokenBucket(10, 1, func() time.Time { return frozen })

	const calls = 20
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := b.client.Get(t.Context(), "customers", "cus_1")
			errs <- err
		}()
	}
	for range calls {
		if err := <-errs; err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	// With the clock frozen, the first call takes the only token and each
	// later one waits 100 ms longer than the one before.
	got := b.sleeps.durations()
	slices.Sort(got)
	var want []time.Duration
	for i := 1; i < calls; i++ {
		want = append(want, time.Duration(i)*100*time.Millisecond)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}

func ExampleClient_List() {
	// Against the real API: orbapi.New(orbapi.Config{APIKey: os.Getenv("ORB_API_KEY")}).
	c, err := New(Config{APIKey: "key"})
	if err != nil {
		panic(err)
	}
	q := query()
	AddArray(q, "status", AllInvoiceStatuses()...)
	SetTime(q, "invoice_date", GTE, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(q.Encode())
	_ = c // c.List(ctx, "invoices", q, storedCursor, func(p Page, cursor string) error { … })
	// Output: invoice_date%5Bgte%5D=2025-01-01T00%3A00%3A00Z&status%5B%5D=draft&status%5B%5D=issued&status%5B%5D=paid&status%5B%5D=synced&status%5B%5D=void
}

// TestConfigSleep checks that Config.Sleep replaces the retry wait, so tests
// outside the package can exercise Retry-After without waiting.
func TestConfigSleep(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	srv.Put("customers", orbapitest.Object("cus_1", time.Unix(0, 0), nil))
	srv.Inject(1, orbapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "7"})
	var waits []time.Duration
	c, err := New(Config{APIKey: srv.APIKey, BaseURL: srv.URL, RateLimit: -1,
		Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "customers", "cus_1"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(waits, []time.Duration{7 * time.Second}) {
		t.Fatalf("waits %v, want [7s]", waits)
	}
}
