package orbapitest_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

var t0 = time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)

// get sends GET <srv.URL><path> with key and decodes the JSON answer.
func get(t *testing.T, srv *orbapitest.Server, path, key string) (int, http.Header, map[string]json.RawMessage) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("GET %s: body %q is not a JSON object: %v", path, body, err)
	}
	return resp.StatusCode, resp.Header, m
}

// page decodes a list answer into ids and the next cursor ("" for null).
func page(t *testing.T, m map[string]json.RawMessage) ([]string, string) {
	t.Helper()
	var data []struct {
		ID string `json:"id"`
	}
	var meta struct {
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	}
	if err := json.Unmarshal(m["data"], &data); err != nil {
		t.Fatalf("data: %v", err)
	}
	if err := json.Unmarshal(m["pagination_metadata"], &meta); err != nil {
		t.Fatalf("pagination_metadata: %v", err)
	}
	if meta.HasMore != (meta.NextCursor != nil) {
		t.Fatalf("has_more %v with next_cursor %v; want next_cursor non-null iff has_more", meta.HasMore, meta.NextCursor)
	}
	ids := make([]string, len(data))
	for i, d := range data {
		ids[i] = d.ID
	}
	if meta.NextCursor == nil {
		return ids, ""
	}
	return ids, *meta.NextCursor
}

func TestErrorsAreRFC7807(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	problemKeys := []string{"detail", "status", "title", "type"}
	tests := []struct {
		name       string
		path, key  string
		wantStatus int
		wantType   string
		wantKeys   []string
	}{
		{"no key", "/customers", "", 401, "401-authentication-error", problemKeys},
		{"wrong key", "/customers", "nope", 401, "401-authentication-error", problemKeys},
		{"missing object", "/plans/DBhwNcMNfYgeBpn", srv.APIKey, 404, "404-resource-not-found", problemKeys},
		{"unknown resource", "/widgets", srv.APIKey, 404, "404-url-not-found", problemKeys},
		{"unknown route", "/customers/a/b", srv.APIKey, 404, "404-url-not-found", problemKeys},
		{"limit too big", "/customers?limit=101", srv.APIKey, 400, "400-request-validation-error", []string{"status", "title", "type", "validation_errors"}},
		{"limit zero", "/customers?limit=0", srv.APIKey, 400, "400-request-validation-error", nil},
		{"limit not a number", "/customers?limit=ten", srv.APIKey, 400, "400-request-validation-error", nil},
		{"bad cursor", "/customers?cursor=xyz", srv.APIKey, 400, "400-request-validation-error", nil},
		{"bad time filter", "/customers?created_at%5Bgte%5D=yesterday", srv.APIKey, 400, "400-request-validation-error", nil},
		{"bad delivery_success", "/webhook_events?delivery_success=yes", srv.APIKey, 400, "400-request-validation-error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, _, m := get(t, srv, tt.path, tt.key)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			var typ string
			_ = json.Unmarshal(m["type"], &typ)
			if typ != "https://docs.withorb.com/reference/error-responses#"+tt.wantType {
				t.Fatalf("type %q, want #%s", typ, tt.wantType)
			}
			if keys := slices.Sorted(maps.Keys(m)); tt.wantKeys != nil && !slices.Equal(keys, tt.wantKeys) {
				t.Fatalf("keys %v, want %v", keys, tt.wantKeys)
			}
		})
	}
}

func TestNotFoundMatchesDocsExample(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	_, _, m := get(t, srv, "/plans/DBhwNcMNfYgeBpn", srv.APIKey)
	want := map[string]string{
		"detail": `"Could not find a resource of type Plan with identifier: DBhwNcMNfYgeBpn."`,
		"status": `404`,
		"title":  `"A specified resource was not found."`,
		"type":   `"https://docs.withorb.com/reference/error-responses#404-resource-not-found"`,
	}
	for k, v := range want {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
}

func TestListDefaultsAndNullCursor(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	for i := range 25 {
		srv.Put("customers", orbapitest.Object(string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute), nil))
	}
	_, _, m := get(t, srv, "/customers", srv.APIKey)
	ids, next := page(t, m)
	if len(ids) != 20 || ids[0] != "y" || next == "" {
		t.Fatalf("first page %v next %q; want 20 newest first and a cursor", ids, next)
	}
	_, _, m = get(t, srv, "/customers?cursor="+next, srv.APIKey)
	ids, next = page(t, m)
	if !slices.Equal(ids, []string{"e", "d", "c", "b", "a"}) || next != "" {
		t.Fatalf("last page %v next %q", ids, next)
	}
	if !strings.Contains(string(m["pagination_metadata"]), `"next_cursor":null`) {
		t.Fatalf("pagination_metadata %s, want next_cursor null", m["pagination_metadata"])
	}
}

func TestCursorIsStableUnderChanges(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	for i := range 6 {
		srv.Put("customers", orbapitest.Object(string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute), nil))
	}
	_, _, m := get(t, srv, "/customers?limit=2", srv.APIKey) // f, e.
	_, next := page(t, m)

	srv.Put("customers", orbapitest.Object("new", t0.Add(time.Hour), nil)) // Newer: ahead of the cursor.
	srv.Delete("customers", "f")                                           // Already served.
	srv.Put("customers", orbapitest.Object("e", t0.Add(4*time.Minute), map[string]any{"name": "edited"}))

	_, _, m = get(t, srv, "/customers?limit=2&cursor="+next, srv.APIKey)
	if ids, _ := page(t, m); !slices.Equal(ids, []string{"d", "c"}) {
		t.Fatalf("page after changes %v, want [d c]", ids)
	}
}

func TestTiesOnSortKeyBreakByID(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	for _, id := range []string{"b", "d", "a", "c"} {
		srv.Put("customers", orbapitest.Object(id, t0, nil))
	}
	var got []string
	cursor := ""
	for {
		_, _, m := get(t, srv, "/customers?limit=1&cursor="+cursor, srv.APIKey)
		ids, next := page(t, m)
		got = append(got, ids...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, []string{"d", "c", "b", "a"}) {
		t.Fatalf("got %v, want every tied object once", got)
	}
}

func TestFaultsAndRequestLog(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	srv.Put("customers", orbapitest.Object("cus_1", t0, nil))
	srv.Inject(1, orbapitest.Fault{Status: 429, RetryAfter: "2"})

	status, h, _ := get(t, srv, "/customers/cus_1", srv.APIKey)
	if status != 429 || h.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2", status, h.Get("Retry-After"))
	}
	status, _, m := get(t, srv, "/customers/cus_1?x=1", srv.APIKey)
	if status != 200 || string(m["id"]) != `"cus_1"` {
		t.Fatalf("status %d body %v after the fault", status, m)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || reqs[0].Status != 429 || reqs[1].Status != 200 ||
		reqs[1].Path != "/v1/customers/cus_1" || reqs[1].Query.Get("x") != "1" {
		t.Fatalf("request log %+v", reqs)
	}
}

func TestWebhookEventShape(t *testing.T) {
	t.Parallel()
	srv := orbapitest.New(t)
	srv.Put("webhook_events", orbapitest.WebhookEvent("wh_1", "invoice.issued", t0, true, json.RawMessage(`{"id":"wh_1"}`)))
	_, _, m := get(t, srv, "/webhook_events", srv.APIKey)
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(m["data"], &items); err != nil || len(items) != 1 {
		t.Fatalf("data %s: %v", m["data"], err)
	}
	keys := slices.Sorted(maps.Keys(items[0]))
	want := []string{"created_at", "delivery_attempts", "id", "is_delivered", "payload", "type"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if string(items[0]["created_at"]) != `"2025-01-08T08:00:00+00:00"` {
		t.Fatalf("created_at %s, want Orb's +00:00 form", items[0]["created_at"])
	}
}
