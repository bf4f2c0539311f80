package orbapi

import (
	"net/http"
	"testing"
	"time"
)

func TestShouldRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status      int
		shouldRetry string
		want        bool
	}{
		{200, "", false},
		{400, "", false},
		{401, "", false},
		{404, "", false},
		{408, "", true},
		{409, "", true},
		{429, "", true},
		{500, "", true},
		{503, "", true},
		{503, "false", false},
		{400, "true", true},
		{429, "maybe", true},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.shouldRetry != "" {
			h.Set("X-Should-Retry", tt.shouldRetry)
		}
		if got := shouldRetry(tt.status, h); got != tt.want {
			t.Errorf("shouldRetry(%d, x-should-retry=%q) = %v, want %v", tt.status, tt.shouldRetry, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)
	b := backoff{base: retryBaseDefault, max: retryMaxDefault, now: func() time.Time { return now }}
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"milliseconds", map[string]string{"Retry-After-Ms": "1500"}, 1500 * time.Millisecond, true},
		{"milliseconds win", map[string]string{"Retry-After-Ms": "20", "Retry-After": "5"}, 20 * time.Millisecond, true},
		{"bad milliseconds fall back", map[string]string{"Retry-After-Ms": "x", "Retry-After": "5"}, 5 * time.Second, true},
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{"http date", map[string]string{"Retry-After": now.Add(7 * time.Second).Format(http.TimeFormat)}, 7 * time.Second, true},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0, false},
		{"zero", map[string]string{"Retry-After": "0"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-4"}, 0, false},
		{"NaN", map[string]string{"Retry-After": "NaN"}, 0, false},
		{"capped", map[string]string{"Retry-After": "86400"}, retryAfterMax, true},
		{"infinite is capped", map[string]string{"Retry-After": "Inf"}, retryAfterMax, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got, ok := b.retryAfter(h)
			if got != tt.want || ok != tt.wantOK {
				t.Fatalf("got %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := backoff{base: retryBaseDefault, max: retryMaxDefault, now: time.Now}
	for attempt, full := range []time.Duration{
		500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second,
	} {
		for range 50 {
			if d := b.delay(attempt, nil); d > full || d < full*3/4 {
				t.Fatalf("attempt %d: delay %s, want within 25%% below %s", attempt, d, full)
			}
		}
	}
	if d := b.delay(100, nil); d > retryMaxDefault || d < retryMaxDefault*3/4 {
		t.Fatalf("attempt 100: delay %s overflowed the cap", d)
	}
	if d := b.delay(0, http.Header{"Retry-After": {"2"}}); d != 2*time.Second {
		t.Fatalf("delay with Retry-After = %s, want 2s without jitter", d)
	}
}
