package orbapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
)

// pageSizeFloor is the smallest limit the page-size fallback goes down to.
const pageSizeFloor = 10

// Page is one page of a list.
type Page struct {
	// Data holds the objects as Orb sent them, in Orb's order (newest
	// first). It may be empty.
	Data []json.RawMessage
	// HasMore reports whether another page follows: Orb said has_more, gave
	// a next_cursor, and this page had data.
	HasMore bool
	// NextCursor fetches the next page; empty when HasMore is false. Store
	// it after processing Data to resume the listing later.
	NextCursor string
}

// envelope is the body of an Orb list response.
type envelope struct {
	Data               *[]json.RawMessage `json:"data"`
	PaginationMetadata struct {
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	} `json:"pagination_metadata"`
}

// ListPage fetches one page of GET <BaseURL>/<path> with the filters in
// query, starting at cursor (empty for the first page). The limit and cursor
// parameters are set here and override any in query.
func (c *Client) ListPage(ctx context.Context, path string, query url.Values, cursor string) (Page, error) {
	limit := c.pageSize(path)
	for {
		page, err := c.listOnce(ctx, path, query, cursor, limit)
		if err == nil {
			c.rememberPageSize(path, limit)
			return page, nil
		}
		smaller, ok := smallerPageSize(limit, err)
		if !ok {
			return Page{}, fmt.Errorf("listing %s: %w", path, err)
		}
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "orb api list failed, retrying with a smaller page size",
			slog.String("path", path), slog.Int("limit", limit), slog.Int("new_limit", smaller),
			slog.String("error", err.Error()))
		limit = smaller
	}
}

// List walks a list from cursor (empty for the start) to its end, calling fn
// with each page and the cursor that fetched it. It sends the same filters on
// every page and stops at the first error, from Orb or from fn.
func (c *Client) List(ctx context.Context, path string, query url.Values, cursor string, fn func(page Page, cursor string) error) error {
	for {
		page, err := c.ListPage(ctx, path, query, cursor)
		if err != nil {
			return err
		}
		if err := fn(page, cursor); err != nil {
			return fmt.Errorf("handling page of %s: %w", path, err)
		}
		if !page.HasMore {
			return nil
		}
		if page.NextCursor == cursor {
			return fmt.Errorf("listing %s: next_cursor repeats the cursor %q", path, cursor)
		}
		cursor = page.NextCursor
	}
}

// listOnce fetches one page with a given limit.
func (c *Client) listOnce(ctx context.Context, path string, query url.Values, cursor string, limit int) (Page, error) {
	q := maps.Clone(query)
	if q == nil {
		q = url.Values{}
	}
	q.Set("limit", strconv.Itoa(limit))
	q.Del("cursor")
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	body, err := c.get(ctx, path, q)
	if err != nil {
		return Page{}, err
	}
	return decodePage(body)
}

// decodePage parses a list envelope and applies the stop rules.
func decodePage(body []byte) (Page, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Page{}, fmt.Errorf("decoding list response: %w", err)
	}
	if env.Data == nil {
		return Page{}, errors.New("decoding list response: no data array")
	}
	page := Page{Data: *env.Data}
	meta := env.PaginationMetadata
	if meta.HasMore && meta.NextCursor != nil && *meta.NextCursor != "" && len(page.Data) > 0 {
		page.HasMore = true
		page.NextCursor = *meta.NextCursor
	}
	return page, nil
}

// smallerPageSize returns the limit to try after err, if the error looks
// like Orb failing on a large page: a 400, or a 5xx that outlived retries.
func smallerPageSize(limit int, err error) (int, bool) {
	var apiErr *APIError
	if limit <= pageSizeFloor || !errors.As(err, &apiErr) {
		return 0, false
	}
	if apiErr.Status != http.StatusBadRequest && apiErr.Status < 500 {
		return 0, false
	}
	return max(limit/2, pageSizeFloor), true
}

// pageSize is the limit to use for path: the configured one, or a smaller
// one that worked after the configured one failed.
func (c *Client) pageSize(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.pageSizes[path]; ok {
		return n
	}
	return c.cfg.PageSize
}

// rememberPageSize records a limit that worked for path if it is below the
// configured one.
func (c *Client) rememberPageSize(path string, limit int) {
	if limit >= c.cfg.PageSize {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.pageSizes[path]; !ok || limit < n {
		c.pageSizes[path] = limit
	}
}
