// Package orbapi is a small read-only client for the Orb REST API
// (https://api.withorb.com/v1), written on net/http alone.
//
// It exists for the backfill and for re-fetching objects that webhooks only
// summarise. It lists collections with Orb's cursor pagination and fetches
// single objects by id, and it returns every object as raw JSON so callers can
// store it verbatim: no field Orb adds later is lost to a typed model.
//
// # Pagination
//
// A list request carries limit and, after the first page, cursor; the
// response is {"data": [...], "pagination_metadata": {"has_more", "next_cursor"}}.
// The same filters are sent on every page. Listing stops when has_more is
// false, next_cursor is empty or null, or a page has no data. A stored
// [Page.NextCursor] resumes a listing where it stopped.
//
// Orb has been seen to fail list requests with large limits. When a list page
// answers 400, or still answers 5xx after all retries, and the limit is above
// 10, the client halves the limit and asks for the same page again. A smaller
// limit that worked is remembered for that path for the life of the Client.
//
// # Retries and rate limit
//
// Every request first takes a token from a bucket shared by the whole Client
// ([Config.RateLimit]). Connection errors, per-attempt timeouts and the
// statuses 408, 409, 429 and 5xx are retried up to [Config.MaxRetries] times,
// unless the response says x-should-retry: false (true forces a retry). The
// wait is Retry-After-Ms, else Retry-After (seconds or an HTTP date), else an
// exponential backoff of 0.5 s·2^n capped at 8 s, less up to 25 % jitter.
// Waits end early when the context is cancelled.
//
// # Errors
//
// Non-2xx answers become an [*APIError] decoded from Orb's RFC 7807 body.
// errors.Is matches [ErrUnauthorized] for 401 and 403 and [ErrNotFound] for
// 404. The API key is only ever sent in the Authorization header; it is never
// logged and is removed from any text an error carries.
//
// Package orbapitest holds a fake Orb API server for tests.
package orbapi
