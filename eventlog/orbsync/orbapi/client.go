package orbapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxBodyDefault bounds a response body. The largest Orb objects (plans with
// many prices, invoices with many line items) are well below a megabyte, so
// a page of 100 fits easily.
const maxBodyDefault = 64 << 20

// Client reads from the Orb REST API. It is safe for concurrent use; all
// calls share one rate limiter.
type Client struct {
	cfg     Config
	base    string // BaseURL without a trailing slash.
	limiter *tokenBucket
	backoff backoff
	sleep   sleepFunc
	maxBody int64

	mu        sync.Mutex
	pageSizes map[string]int // List path to a reduced limit that worked.
}

// New returns a Client for cfg after filling in defaults and validating it.
func New(cfg Config) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("validating orbapi config: %w", err)
	}
	c := &Client{
		cfg:       cfg,
		base:      strings.TrimRight(cfg.BaseURL, "/"),
		limiter:   newTokenBucket(cfg.RateLimit, 1, time.Now),
		backoff:   backoff{base: retryBaseDefault, max: retryMaxDefault, now: time.Now},
		sleep:     sleepContext,
		maxBody:   maxBodyDefault,
		pageSizes: map[string]int{},
	}
	if cfg.Sleep != nil {
		c.sleep = cfg.Sleep
	}
	return c, nil
}

// Get fetches one object, GET <BaseURL>/<path>/<id>, and returns it as sent.
// path is the collection, e.g. "customers" or
// "customers/external_customer_id"; id is escaped here. A missing object
// gives an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, path, id string) (json.RawMessage, error) {
	if id == "" {
		return nil, fmt.Errorf("fetching from %s: empty id", path)
	}
	body, err := c.get(ctx, path+"/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s/%s: %w", path, id, err)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("fetching %s/%s: response is not valid JSON", path, id)
	}
	return body, nil
}
