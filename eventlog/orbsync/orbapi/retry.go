package orbapi

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

const (
	retryBaseDefault = 500 * time.Millisecond
	retryMaxDefault  = 8 * time.Second

	// retryAfterMax caps a server-sent Retry-After, so one odd header cannot
	// park a backfill for hours.
	retryAfterMax = 60 * time.Second

	// retryJitter is the largest fraction taken off an exponential backoff,
	// so clients that failed together do not retry together.
	retryJitter = 0.25
)

// backoff computes retry waits. New fills it with the defaults; tests in
// this package shrink base and max.
type backoff struct {
	base time.Duration // First exponential wait.
	max  time.Duration // Cap on the exponential wait.
	now  func() time.Time
}

// shouldRetry reports whether an answer with this status and header is worth
// another attempt. An explicit x-should-retry header wins over the status.
func shouldRetry(status int, header http.Header) bool {
	switch header.Get("X-Should-Retry") {
	case "true":
		return true
	case "false":
		return false
	}
	switch {
	case status == http.StatusRequestTimeout,
		status == http.StatusConflict,
		status == http.StatusTooManyRequests,
		status >= 500:
		return true
	}
	return false
}

// delay is how long to wait before retry number attempt (0 for the first
// retry). header is nil after a connection error.
func (b backoff) delay(attempt int, header http.Header) time.Duration {
	if d, ok := b.retryAfter(header); ok {
		return d
	}
	d := b.base << min(attempt, 30)
	if d > b.max || d <= 0 {
		d = b.max
	}
	return d - time.Duration(rand.Float64()*retryJitter*float64(d))
}

// retryAfter reads Retry-After-Ms, then Retry-After in seconds or as an HTTP
// date. Values are capped at retryAfterMax; absent, unparsable or
// non-positive values report false.
func (b backoff) retryAfter(header http.Header) (time.Duration, bool) {
	secs := b.serverDelaySeconds(header)
	if !(secs > 0) { // Also rejects NaN.
		return 0, false
	}
	secs = min(secs, retryAfterMax.Seconds())
	return time.Duration(secs * float64(time.Second)), true
}

// serverDelaySeconds returns the wait the server asked for, or 0.
func (b backoff) serverDelaySeconds(header http.Header) float64 {
	if ms, err := strconv.ParseFloat(header.Get("Retry-After-Ms"), 64); err == nil {
		return ms / 1000
	}
	v := header.Get("Retry-After")
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		return s
	}
	if at, err := http.ParseTime(v); err == nil {
		return at.Sub(b.now()).Seconds()
	}
	return 0
}
