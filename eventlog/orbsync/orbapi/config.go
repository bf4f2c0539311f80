package orbapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

const (
	baseURLDefault    = "https://api.withorb.com/v1"
	rateLimitDefault  = 20.0 // Orb allows 100 read requests/s in live mode, 10 on trials.
	timeoutDefault    = 30 * time.Second
	maxRetriesDefault = 5
	pageSizeDefault   = 100

	// pageSizeMax is Orb's documented upper bound for limit.
	pageSizeMax = 100
)

// Config configures a Client.
type Config struct {
	// APIKey is the Orb API key, sent as "Authorization: Bearer <key>".
	// Required. It is never logged and never appears in an error.
	APIKey string

	// BaseURL is the API root, without a trailing slash.
	// Defaults to "https://api.withorb.com/v1".
	BaseURL string

	// RateLimit is the client-side limit in requests per second, shared by
	// all calls on the Client. Zero means the default of 20; a negative
	// value turns the limiter off.
	RateLimit float64

	// Timeout bounds each attempt of a request, including reading the body.
	// Zero means the default of 30 seconds.
	Timeout time.Duration

	// MaxRetries is how many times a retryable failure is retried, so a
	// request makes at most MaxRetries+1 attempts. Zero means the default
	// of 5; a negative value turns retries off.
	MaxRetries int

	// PageSize is the limit sent with list requests, 1 to 100.
	// Zero means the default of 100.
	PageSize int

	// HTTPClient sends the requests. Nil means a new client on
	// http.DefaultTransport. Its own Timeout, if any, applies on top of
	// Timeout.
	HTTPClient *http.Client

	// Logger receives retries and page-size reductions at Warn level.
	// Nil discards them.
	Logger *slog.Logger

	// Sleep waits between retries and for the rate limiter: it returns after
	// d, or with ctx's error when ctx ends first. Nil means a real timer.
	// It exists for tests outside this package, which set a function that
	// returns at once (and may record d) so that retry paths, Retry-After
	// included, run without waiting. Production code leaves it nil.
	Sleep func(ctx context.Context, d time.Duration) error
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	c.BaseURL = cmp.Or(c.BaseURL, baseURLDefault)
	c.RateLimit = cmp.Or(c.RateLimit, rateLimitDefault)
	c.Timeout = cmp.Or(c.Timeout, timeoutDefault)
	c.MaxRetries = max(cmp.Or(c.MaxRetries, maxRetriesDefault), 0)
	c.PageSize = cmp.Or(c.PageSize, pageSizeDefault)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config that WithDefaults has filled in.
func (c Config) validate() error {
	if c.APIKey == "" {
		return errors.New("APIKey is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("BaseURL must be an absolute http or https URL, got %q", c.BaseURL)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("Timeout must not be negative, got %s", c.Timeout)
	}
	if c.PageSize < 1 || c.PageSize > pageSizeMax {
		return fmt.Errorf("PageSize must be between 1 and %d, got %d", pageSizeMax, c.PageSize)
	}
	return nil
}
