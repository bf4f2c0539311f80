package orbapi

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

var t0 = time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)

func TestListPagesThroughEverything(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	want := putCustomers(t, b.srv, t0, 2500)
	slices.Reverse(want) // Orb lists newest first.

	q := query()
	SetTime(q, "created_at", GTE, t0)
	got := listAll(t, b.client, "customers", q)

	if !slices.Equal(got, want) {
		t.Fatalf("got %d ids, want %d in newest-first order", len(got), len(want))
	}
	reqs := b.srv.Requests()
	if len(reqs) != 25 {
		t.Fatalf("got %d requests, want 25 pages of 100", len(reqs))
	}
	for i, r := range reqs {
		if r.Path != "/v1/customers" || r.Query.Get("limit") != "100" ||
			r.Query.Get("created_at[gte]") != "2025-01-08T08:00:00Z" {
			t.Fatalf("request %d: %s %v; want the same filters and limit on every page", i, r.Path, r.Query)
		}
		if hasCursor := r.Query.Has("cursor"); hasCursor != (i > 0) {
			t.Fatalf("request %d: cursor present = %v", i, hasCursor)
		}
	}
}

func TestListFiltersByCreatedAt(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	putCustomers(t, b.srv, t0, 10) // cus_00000 at t0 … cus_00009 at t0+9s.

	q := query()
	SetTime(q, "created_at", GT, t0.Add(2*time.Second))
	SetTime(q, "created_at", LTE, t0.Add(5*time.Second))
	got := listAll(t, b.client, "customers", q)

	want := []string{"cus_00005", "cus_00004", "cus_00003"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestListResumesFromStoredCursor(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PageSize = 10 })
	putCustomers(t, b.srv, t0, 95)

	// A first run reads three pages, storing the cursor after each, and is
	// then killed.
	seen := map[string]int{}
	var stored string
	for range 3 {
		page, err := b.client.ListPage(t.Context(), "customers", nil, stored)
		if err != nil {
			t.Fatalf("ListPage: %v", err)
		}
		for _, id := range decodeIDs(t, page.Data) {
			seen[id]++
		}
		stored = page.NextCursor
	}
	// Newer customers arrive before the resume; they sort ahead of the
	// cursor and must not shift or repeat what follows.
	b.srv.Put("customers", orbapitest.Object("cus_new1", t0.Add(time.Hour), nil),
		orbapitest.Object("cus_new2", t0.Add(2*time.Hour), nil))

	// A new client (a restarted process) resumes from the stored cursor.
	resumed, err := New(b.client.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = resumed.List(t.Context(), "customers", nil, stored, func(p Page, cursor string) error {
		for _, id := range decodeIDs(t, p.Data) {
			seen[id]++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for i := range 95 {
		if n := seen[customerID(i)]; n != 1 {
			t.Errorf("%s seen %d times, want 1", customerID(i), n)
		}
	}
	if len(seen) != 95 {
		t.Errorf("seen %d distinct ids, want 95 (newer inserts are not behind the cursor)", len(seen))
	}
}

func TestListPassesCursorToCallback(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PageSize = 2 })
	putCustomers(t, b.srv, t0, 5)

	var cursors []string
	var next []string
	err := b.client.List(t.Context(), "customers", nil, "", func(p Page, cursor string) error {
		cursors = append(cursors, cursor)
		next = append(next, p.NextCursor)
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(cursors) != 3 || cursors[0] != "" || cursors[1] != next[0] || cursors[2] != next[1] || next[2] != "" {
		t.Fatalf("cursors %q, next cursors %q; want each page's cursor to be the previous page's next", cursors, next)
	}
}

func TestListStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PageSize = 2 })
	putCustomers(t, b.srv, t0, 5)
	errStop := errors.New("stop")

	err := b.client.List(t.Context(), "customers", nil, "", func(Page, string) error { return errStop })
	if !errors.Is(err, errStop) {
		t.Fatalf("got %v, want the callback's error", err)
	}
	if n := b.srv.RequestCount(); n != 1 {
		t.Fatalf("got %d requests, want 1", n)
	}
}

func TestListHalvesPageSizeOn400(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	putCustomers(t, b.srv, t0, 60)
	b.srv.SetMaxPageSize(30)

	got := listAll(t, b.client, "customers", nil)

	if len(got) != 60 {
		t.Fatalf("got %d customers, want 60", len(got))
	}
	// 100 and 50 fail; 25 works and is kept for the later pages.
	want := []string{"100", "50", "25", "25", "25"}
	if l := limits(b.srv.Requests()); !slices.Equal(l, want) {
		t.Fatalf("limits %v, want %v", l, want)
	}
	if !strings.Contains(b.logs.String(), "smaller page size") {
		t.Errorf("page-size reduction not logged:\n%s", b.logs.String())
	}
	// The reduced size is remembered for this path on later calls.
	listAll(t, b.client, "customers", nil)
	if l := limits(b.srv.Requests()[5:]); !slices.Equal(l, []string{"25", "25", "25"}) {
		t.Fatalf("limits on second listing %v, want 25s", l)
	}
}

func TestListHalvesPageSizeAfterRepeated5xx(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxRetries = 1 })
	putCustomers(t, b.srv, t0, 10)
	b.srv.Inject(2, orbapitest.Fault{Status: http.StatusInternalServerError})

	got := listAll(t, b.client, "customers", nil)

	if len(got) != 10 {
		t.Fatalf("got %d customers, want 10", len(got))
	}
	if l := limits(b.srv.Requests()); !slices.Equal(l, []string{"100", "100", "50"}) {
		t.Fatalf("limits %v, want a retry at 100 then 50", l)
	}
}

func TestListGivesUpAtPageSizeFloor(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.PageSize = 20 })
	putCustomers(t, b.srv, t0, 30)
	b.srv.SetMaxPageSize(5)

	_, err := b.client.ListPage(t.Context(), "customers", nil, "")

	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("got %v, want a 400 APIError", err)
	}
	if l := limits(b.srv.Requests()); !slices.Equal(l, []string{"20", "10"}) {
		t.Fatalf("limits %v, want 20 then the floor of 10", l)
	}
}

func TestListInvoiceStatuses(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i, status := range AllInvoiceStatuses() { // draft, issued, paid, synced, void.
		b.srv.Put("invoices", orbapitest.Invoice("inv_"+status, t0.Add(time.Duration(i)*time.Hour), status))
	}
	tests := []struct {
		name     string
		statuses []string
		want     []string
	}{
		{"default hides drafts and voids", nil, []string{"inv_synced", "inv_paid", "inv_issued"}},
		{"all statuses", AllInvoiceStatuses(), []string{"inv_void", "inv_synced", "inv_paid", "inv_issued", "inv_draft"}},
		{"drafts and voids only", []string{"draft", "void"}, []string{"inv_void", "inv_draft"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := query()
			AddArray(q, "status", tt.statuses...)
			if got := listAll(t, b.client, "invoices", q); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListInvoicesByInvoiceDate(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i := range 5 {
		b.srv.Put("invoices", orbapitest.Invoice(customerID(i), t0.AddDate(0, 0, i), "paid"))
	}
	q := query()
	SetTime(q, "invoice_date", GTE, t0.AddDate(0, 0, 3))
	if got := listAll(t, b.client, "invoices", q); !slices.Equal(got, []string{"cus_00004", "cus_00003"}) {
		t.Fatalf("got %v", got)
	}
}

func TestListCouponsShowArchived(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.srv.Put("coupons",
		orbapitest.Object("cpn_active", time.Time{}, map[string]any{"archived_at": nil}),
		orbapitest.Object("cpn_archived", time.Time{}, map[string]any{"archived_at": orbapitest.Timestamp(t0)}))

	if got := listAll(t, b.client, "coupons", nil); !slices.Equal(got, []string{"cpn_active"}) {
		t.Fatalf("default: got %v, want only the active coupon", got)
	}
	got := listAll(t, b.client, "coupons", query("show_archived", "true"))
	if !slices.Equal(got, []string{"cpn_archived", "cpn_active"}) {
		t.Fatalf("show_archived: got %v, want both", got)
	}
}

func TestListWebhookEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.srv.Put("webhook_events",
		orbapitest.WebhookEvent("wh_1", "invoice.issued", t0, true, nil),
		orbapitest.WebhookEvent("wh_2", "invoice.issued", t0.Add(time.Minute), false, nil),
		orbapitest.WebhookEvent("wh_3", "customer.created", t0.Add(2*time.Minute), false, nil))

	tests := []struct {
		name string
		q    []string
		want []string
	}{
		{"all", nil, []string{"wh_3", "wh_2", "wh_1"}},
		{"failed deliveries", []string{"delivery_success", "false"}, []string{"wh_3", "wh_2"}},
		{"by type", []string{"event_type", "invoice.issued"}, []string{"wh_2", "wh_1"}},
		{"failed invoice events", []string{"delivery_success", "false", "event_type", "invoice.issued"}, []string{"wh_2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := listAll(t, b.client, "webhook_events", query(tt.q...)); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodePage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantMore bool
		wantErr  bool
	}{
		{"more", `{"data":[{}],"pagination_metadata":{"has_more":true,"next_cursor":"c"}}`, true, false},
		{"last page", `{"data":[{}],"pagination_metadata":{"has_more":false,"next_cursor":null}}`, false, false},
		{"has_more with null cursor", `{"data":[{}],"pagination_metadata":{"has_more":true,"next_cursor":null}}`, false, false},
		{"has_more with empty cursor", `{"data":[{}],"pagination_metadata":{"has_more":true,"next_cursor":""}}`, false, false},
		{"has_more with no data", `{"data":[],"pagination_metadata":{"has_more":true,"next_cursor":"c"}}`, false, false},
		{"no data member", `{"pagination_metadata":{"has_more":false}}`, false, true},
		{"not json", `<html>`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page, err := decodePage([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if page.HasMore != tt.wantMore || (page.NextCursor != "") != tt.wantMore {
				t.Fatalf("HasMore %v NextCursor %q, want more = %v", page.HasMore, page.NextCursor, tt.wantMore)
			}
		})
	}
}

func TestListRejectsRepeatedCursor(t *testing.T) {
	t.Parallel()
	srv := newStubServer(t, http.StatusOK,
		`{"data":[{"id":"a"}],"pagination_metadata":{"has_more":true,"next_cursor":"same"}}`)
	c, err := New(Config{APIKey: "k", BaseURL: srv.URL, RateLimit: -1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	err = c.List(t.Context(), "customers", nil, "same", func(Page, string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats the cursor") {
		t.Fatalf("got %v, want a repeated-cursor error", err)
	}
}
