package orbsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
)

// fakeAccount fills the fake with every entity: n customers and invoices in
// every status (drafts and voids included), coupons half archived, and a
// few of the rest. It returns the ids per collection.
func fakeAccount(t testing.TB, srv *orbapitest.Server, n int) map[string][]string {
	t.Helper()
	ids := map[string][]string{"customers": putCustomers(t, srv, n)}
	statuses := orbapi.AllInvoiceStatuses()
	var invoices []json.RawMessage
	for i := range n {
		id := fmt.Sprintf("inv_%05d", i)
		ids["invoices"] = append(ids["invoices"], id)
		invoices = append(invoices, orbapitest.Invoice(id, t0.Add(time.Duration(i)*time.Minute), statuses[i%len(statuses)]))
	}
	srv.Put("invoices", invoices...)
	put := func(collection, prefix string, count int, fields func(i int) map[string]any) {
		for i := range count {
			id := fmt.Sprintf("%s_%03d", prefix, i)
			ids[collection] = append(ids[collection], id)
			srv.Put(collection, orbapitest.Object(id, t0.Add(time.Duration(i)*time.Hour), fields(i)))
		}
	}
	none := func(int) map[string]any { return nil }
	put("subscriptions", "sub", 30, func(i int) map[string]any { return map[string]any{"status": "active", "price_intervals": []any{}} })
	put("credit_notes", "cn", 12, none)
	put("plans", "plan", 7, none)
	put("metrics", "bm", 5, none)
	put("items", "item", 6, none)
	put("prices", "price", 4, none)
	put("coupons", "coupon", 10, func(i int) map[string]any {
		if i%2 == 0 {
			return map[string]any{"archived_at": orbapitest.Timestamp(t0)}
		}
		return map[string]any{"archived_at": nil}
	})
	return ids
}

// resourceOf maps a fake collection to its entity's resource name.
func resourceOf(collection string) string {
	e, ok := LookupEntity(collection)
	if !ok {
		panic(collection)
	}
	return e.Resource
}

func TestBackfillStoresEveryObjectOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 100})
	ids := fakeAccount(t, b.srv, 2500)

	sum, err := b.runner.Backfill(context.Background(), Options{})
	if err != nil {
		t.Fatalf("Backfill: %v", err)
	}
	for collection, want := range ids {
		b.assertStoredOnce(t, resourceOf(collection), want)
	}
	for _, e := range sum.Entities {
		p := e.Progress
		if e.Status != StatusDone || !p.Done || p.Fetched != int64(len(ids[collectionOf(e.Entity)])) ||
			p.Stored != p.Fetched || p.Duplicates != 0 || p.Errors != 0 {
			t.Errorf("%s: %+v", e.Entity, e)
		}
	}
	// 2,500 customers at 100 a page: 25 full pages.
	if got := len(requestsTo(b.srv, "customers")); got != 25 {
		t.Errorf("customers listed in %d requests, want 25", got)
	}
	// Filters ride on every page.
	for _, r := range requestsTo(b.srv, "invoices") {
		if got := r.Query["status[]"]; !slices.Equal(got, orbapi.AllInvoiceStatuses()) {
			t.Fatalf("invoice page without every status: %v", r.Query)
		}
	}
	for _, r := range requestsTo(b.srv, "coupons") {
		if r.Query.Get("show_archived") != "true" {
			t.Fatalf("coupon page without show_archived: %v", r.Query)
		}
	}
	var table strings.Builder
	sum.WriteTable(&table)
	if !strings.Contains(table.String(), "customers") || !strings.Contains(table.String(), "2,500") {
		t.Errorf("summary:\n%s", table.String())
	}
}

// collectionOf maps an entity name to its fake collection.
func collectionOf(entity string) string {
	e, _ := LookupEntity(entity)
	return e.Path
}

func TestBackfillSinceFiltersEveryPage(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 10})
	ids := fakeAccount(t, b.srv, 100)
	since := t0.Add(50 * time.Second) // Customers 50..99; invoices 1 a minute: 1..99.
	entities, _ := ParseEntities([]string{"customers", "invoice"})
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: entities, Since: since}); err != nil {
		t.Fatal(err)
	}
	b.assertStoredOnce(t, "customer", ids["customers"][50:])
	b.assertStoredOnce(t, "invoice", ids["invoices"][1:])
	for _, path := range []string{"customers", "invoices"} {
		field := map[string]string{"customers": "created_at[gte]", "invoices": "invoice_date[gte]"}[path]
		for _, r := range requestsTo(b.srv, path) {
			if r.Query.Get(field) != "2025-01-08T08:00:50Z" {
				t.Fatalf("%s page without %s: %v", path, field, r.Query)
			}
		}
	}
}

// TestBackfillResumesAfterKill stops a backfill mid-way twice, once by
// cancelling it (SIGINT) and once by a fatal API error, and checks that the
// next run continues from the stored cursor: every object stored exactly
// once, no page read again.
func TestBackfillResumesAfterKill(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 50})
	ids := putCustomers(t, b.srv, 1000) // 20 pages.
	customers, _ := ParseEntities([]string{"customers"})

	// Run 1: cancelled after 5 stored pages.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, err := b.runner.Backfill(ctx, Options{Entities: customers, OnProgress: func(r EntityResult) {
		if r.Progress.Pages == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || sum.Entities[0].Status != StatusInterrupted {
		t.Fatalf("run 1: %v, %+v", err, sum.Entities[0])
	}
	stored := sum.Entities[0].Progress.Pages
	if stored < 5 || stored >= 20 {
		t.Fatalf("run 1 stored %d pages", stored)
	}

	// Run 2: a non-retryable API error after a few more pages.
	var pages atomic.Int32
	sum, err = b.runner.Backfill(context.Background(), Options{Entities: customers, OnProgress: func(r EntityResult) {
		if r.RunPages > 0 && pages.Add(1) == 3 {
			b.srv.Inject(1, orbapitest.Fault{Status: http.StatusUnprocessableEntity})
		}
	}})
	if err == nil || sum.Entities[0].Status != StatusFailed || sum.Entities[0].ResumedAtPage != stored {
		t.Fatalf("run 2: %v, %+v", err, sum.Entities[0])
	}
	if p, _, _ := b.runner.loadProgress(context.Background(), "customers"); p.LastError == nil || !strings.Contains(*p.LastError, "422") {
		t.Fatalf("failure not recorded: %+v", p)
	}

	// Run 3: finishes.
	sum, err = b.runner.Backfill(context.Background(), Options{Entities: customers})
	if err != nil {
		t.Fatalf("run 3: %v", err)
	}
	p := sum.Entities[0].Progress
	if p.Pages != 20 || p.Fetched != 1000 || p.Stored != 1000 || p.Duplicates != 0 {
		t.Fatalf("progress after run 3: %+v", p)
	}
	b.assertStoredOnce(t, "customer", ids)

	// Every page was asked for once, except the one the fault refused and
	// those fetched ahead by a run that stopped.
	if got := len(requestsTo(b.srv, "customers")); got < 20 || got > 20+3*2 {
		t.Errorf("%d list requests for 20 pages", got)
	}
	// A resumed run starts from a cursor, never from the first page.
	first := 0
	for _, r := range requestsTo(b.srv, "customers") {
		if r.Query.Get("cursor") == "" {
			first++
		}
	}
	if first != 1 {
		t.Errorf("the first page was requested %d times, want once", first)
	}
}

func TestBackfillSurvivesRateLimitsAndServerErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 100})
	ids := putCustomers(t, b.srv, 500)
	b.srv.Inject(1, orbapitest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "3"})
	b.srv.Inject(1, orbapitest.Fault{Status: http.StatusTooManyRequests})
	b.srv.Inject(2, orbapitest.Fault{Status: http.StatusInternalServerError})
	b.srv.Inject(1, orbapitest.Fault{Status: http.StatusBadGateway, Delay: 20 * time.Millisecond})
	customers, _ := ParseEntities([]string{"customers"})
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers}); err != nil {
		t.Fatal(err)
	}
	b.assertStoredOnce(t, "customer", ids)
	waits := b.waits.all()
	if len(waits) != 5 || waits[0] != 3*time.Second {
		t.Fatalf("retry waits %v; want 5, the first honouring Retry-After: 3", waits)
	}
}

func TestBackfillLowersPageSizeWhenOrbRefusesIt(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 100})
	ids := putCustomers(t, b.srv, 300)
	b.srv.SetMaxPageSize(30)
	customers, _ := ParseEntities([]string{"customers"})
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers}); err != nil {
		t.Fatal(err)
	}
	b.assertStoredOnce(t, "customer", ids)
}

func TestBackfillStopsOnRejectedKey(t *testing.T) {
	t.Parallel()
	const key = "orb_live_secret_key_that_must_not_leak"
	b := setup(t, testOpts{apiKey: key})
	fakeAccount(t, b.srv, 10)
	sum, err := b.runner.Backfill(context.Background(), Options{Concurrency: 2})
	if !errors.Is(err, orbapi.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if !strings.Contains(err.Error(), "check ORB_API_KEY") {
		t.Errorf("error %q does not say what to do", err)
	}
	for _, e := range sum.Entities {
		if e.Status == StatusDone {
			t.Errorf("%s went on after the key was rejected", e.Entity)
		}
	}
	// Two entities ran at once; the others never started a request.
	if n := b.srv.RequestCount(); n > 2 {
		t.Errorf("%d requests after a 401; want at most one per running entity", n)
	}
	var table strings.Builder
	sum.WriteTable(&table)
	for _, s := range []string{err.Error(), b.logs.String(), table.String()} {
		if strings.Contains(s, key) {
			t.Fatalf("the API key leaked: %s", s)
		}
	}
}

// TestBackfillContinuesCompleteEntities: running the backfill again after
// a complete run lists what was created since that run began (with an
// overlap), always asking the API, and reports what was new; --restart
// reads everything again.
func TestBackfillContinuesCompleteEntities(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ids := fakeAccount(t, b.srv, 30)
	ctx := context.Background()
	if _, err := b.runner.Backfill(ctx, Options{}); err != nil {
		t.Fatal(err)
	}
	first, err := b.runner.ListProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requests, events := b.srv.RequestCount(), b.countEvents(t, "")
	// Created after the complete run began: the next run must find it.
	b.srv.Put("customers", orbapitest.Object("cus_new", time.Now(), map[string]any{"name": "New"}))

	sum, err := b.runner.Backfill(ctx, Options{})
	if err != nil || b.srv.RequestCount() == requests {
		t.Fatalf("second run: %v, %d new requests", err, b.srv.RequestCount()-requests)
	}
	for _, e := range sum.Entities {
		entity, _ := LookupEntity(e.Entity)
		wantStored := int64(0)
		if e.Entity == "customers" {
			wantStored = 1
		}
		if e.Status != StatusDone || e.Run.Stored != wantStored {
			t.Errorf("%s: %s, %d stored, want done and %d", e.Entity, e.Status, e.Run.Stored, wantStored)
		}
		if (e.ContinuedFrom != nil) != (entity.SinceFilter != "") {
			t.Errorf("%s: continued from %v", e.Entity, e.ContinuedFrom)
		}
		if e.Progress.Since != nil {
			t.Errorf("%s: the continuation narrowed what the backfill covers to %v", e.Entity, e.Progress.Since)
		}
	}
	if got := b.countEvents(t, ""); got != events+1 {
		t.Errorf("continuation added %d events, want 1", got-events)
	}
	// The listing asked only for what is new, back to an hour before the
	// complete run began.
	var started time.Time
	for _, p := range first {
		if p.Entity == "customers" {
			started = p.StartedAt
		}
	}
	var asked []string
	for _, r := range b.srv.Requests()[requests:] {
		if r.Path == "/v1/customers" {
			asked = append(asked, r.Query.Get("created_at[gte]"))
		}
	}
	want := started.Add(-ContinueOverlap).UTC().Truncate(time.Microsecond)
	if len(asked) != 1 || asked[0] == "" {
		t.Fatalf("customers listed with created_at[gte] %q", asked)
	}
	if got, err := time.Parse(time.RFC3339Nano, asked[0]); err != nil || !got.Equal(want) {
		t.Errorf("customers listed from %s, want %s", asked[0], want.Format(time.RFC3339Nano))
	}
	var table strings.Builder
	sum.WriteTable(&table)
	if !strings.Contains(table.String(), "customers: continued the complete backfill from ") ||
		!strings.Contains(table.String(), ": 1 new or changed") {
		t.Errorf("the summary does not say what was new:\n%s", table.String())
	}

	// A narrower --since is covered by the complete run too: continued.
	if sum, _ := b.runner.Backfill(ctx, Options{Since: t0}); sum.Entities[0].ContinuedFrom == nil {
		t.Errorf("since after a full backfill: %+v", sum.Entities[0])
	}

	// --restart reads everything again; unchanged objects store nothing.
	sum, err = b.runner.Backfill(ctx, Options{Restart: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range sum.Entities {
		want := int64(len(ids[collectionOf(e.Entity)]))
		if e.Entity == "customers" {
			want++
		}
		if e.Status != StatusDone || e.Progress.Stored != 0 || e.Progress.Duplicates != want || e.ContinuedFrom != nil {
			t.Errorf("restart %s: %+v", e.Entity, e.Progress)
		}
	}
}

func TestBackfillRefusesToResumeWithAnotherSince(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{pageSize: 10})
	putCustomers(t, b.srv, 50)
	customers, _ := ParseEntities([]string{"customers"})
	ctx, cancel := context.WithCancel(context.Background())
	_, _ = b.runner.Backfill(ctx, Options{Entities: customers, Since: t0.Add(time.Second), OnProgress: func(r EntityResult) {
		if r.Progress.Pages == 1 {
			cancel()
		}
	}})
	_, err := b.runner.Backfill(context.Background(), Options{Entities: customers})
	if err == nil || !strings.Contains(err.Error(), "--since") || !strings.Contains(err.Error(), "--restart") {
		t.Fatalf("err = %v; want advice to pass the same --since or --restart", err)
	}
	if _, err := b.runner.Backfill(context.Background(), Options{Entities: customers, Since: t0.Add(time.Second)}); err != nil {
		t.Fatalf("resuming with the same since: %v", err)
	}
}

func TestBackfillIsExclusivePerSchema(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	unlock, err := b.runner.lockBackfill(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := b.runner.Backfill(context.Background(), Options{}); !errors.Is(err, ErrRunning) {
		t.Fatalf("err = %v, want ErrRunning", err)
	}
}
