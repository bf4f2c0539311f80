package orbapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// errBodyTooLarge means a response exceeded the body limit. Retrying would
// not help.
var errBodyTooLarge = errors.New("response body exceeds limit")

// response is a completed HTTP exchange with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// get sends GET <base>/<path>?<query>, retrying as the package doc
// describes, and returns the body of the first 2xx answer.
func (c *Client) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	u := c.base + "/" + strings.TrimPrefix(path, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	for attempt := 0; ; attempt++ {
		if err := c.limiter.wait(ctx, c.sleep); err != nil {
			return nil, fmt.Errorf("waiting for rate limiter: %w", err)
		}
		res, err := c.attempt(ctx, u)
		if err == nil && res.status >= 200 && res.status < 300 {
			return res.body, nil
		}
		retry := false
		if err != nil {
			retry = ctx.Err() == nil && !errors.Is(err, errBodyTooLarge)
		} else {
			err = newAPIError(res.status, res.body, c.cfg.APIKey)
			retry = shouldRetry(res.status, res.header)
		}
		if !retry || attempt >= c.cfg.MaxRetries {
			if attempt > 0 {
				err = fmt.Errorf("giving up after %d attempts: %w", attempt+1, err)
			}
			return nil, err
		}
		d := c.backoff.delay(attempt, res.header)
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "orb api request failed, retrying",
			slog.String("path", path), slog.Int("attempt", attempt+1),
			slog.Duration("backoff", d), slog.String("error", err.Error()))
		if sleepErr := c.sleep(ctx, d); sleepErr != nil {
			return nil, fmt.Errorf("waiting to retry (last error: %w): %w", err, sleepErr)
		}
	}
}

// attempt makes one request, bounded by the per-attempt timeout, and reads
// the whole body.
func (c *Client) attempt(ctx context.Context, u string) (response, error) {
	timeoutErr := fmt.Errorf("orb request timed out after %s", c.cfg.Timeout)
	attemptCtx, cancel := context.WithTimeoutCause(ctx, c.cfg.Timeout, timeoutErr)
	defer cancel()
	req, err := http.NewRequestWithContext(attemptCtx, http.MethodGet, u, nil)
	if err != nil {
		return response{}, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "orb-sync")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return response{}, c.attemptError(ctx, attemptCtx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return response{}, fmt.Errorf("reading response: %w", c.attemptError(ctx, attemptCtx, err))
	}
	if int64(len(body)) > c.maxBody {
		return response{}, fmt.Errorf("reading response: %w (%d bytes)", errBodyTooLarge, c.maxBody)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// attemptError names a per-attempt timeout as such instead of a bare
// "context deadline exceeded"; other errors pass through.
func (c *Client) attemptError(ctx, attemptCtx context.Context, err error) error {
	if ctx.Err() == nil && attemptCtx.Err() != nil {
		return context.Cause(attemptCtx)
	}
	return err
}
