package console

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console/consoletest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// TestPages renders every page against a real schema holding the fixture
// history and checks what a reader relies on.
func TestPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	t.Run("home", func(t *testing.T) {
		r := f.get(t, "/console/")
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		r.mustContain(t, "Find a billing object", `action="/console/search"`)
	})

	t.Run("search by every key, grouped by kind", func(t *testing.T) {
		for _, tc := range []struct{ q, group, link string }{
			{consoletest.CustomerID, "Customers", "/console/customer/" + consoletest.CustomerID},
			{consoletest.ExternalID, "Customers", "/console/customer/" + consoletest.CustomerID},
			{strings.ToUpper(consoletest.NewEmail), "Customers", "/console/customer/" + consoletest.CustomerID},
			{consoletest.InvoiceNumber, "Invoices", "/console/invoice/" + consoletest.InvoiceID},
			{consoletest.InvoiceID, "Invoices", "/console/invoice/" + consoletest.InvoiceID},
			{consoletest.CreditNoteNo, "Credit notes", "/console/credit_note/" + consoletest.CreditNoteID},
			{consoletest.SubscriptionID, "Subscriptions", "/console/subscription/" + consoletest.SubscriptionID},
			{consoletest.ExternalPlanID, "Plans", "/console/plan/" + consoletest.PlanID},
			{consoletest.EditedEventID, "Events", "/console/event/" + consoletest.EditedEventID},
		} {
			r := f.get(t, "/console/search?q="+url.QueryEscape(tc.q))
			if r.status != 200 {
				t.Fatalf("search %q: status %d", tc.q, r.status)
			}
			r.mustContain(t, "<h2>"+tc.group, `href="`+tc.link+`"`)
		}
		r := f.get(t, "/console/search?q=nobody%40nowhere")
		r.mustContain(t, "Nothing matches")
		if r := f.get(t, "/console/search?q="+strings.Repeat("x", 400)); r.status != 400 {
			t.Errorf("overlong query: status %d", r.status)
		}
	})

	t.Run("customer: row, related, timeline with the change", func(t *testing.T) {
		r := f.get(t, "/console/customer/"+consoletest.CustomerID)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		r.mustContain(t, consoletest.NewEmail,
			`href="/console/subscription/`+consoletest.SubscriptionID+`"`,
			`href="/console/invoice/`+consoletest.InvoiceID+`"`,
			`href="/console/credit_note/`+consoletest.CreditNoteID+`"`,
			"cbt_console_1", "customer.edited", "snapshot.customer", `class="src src-snapshot"`,
			`<span class="field">email</span> <del>`+consoletest.OldEmail+`</del> → <ins>`+consoletest.NewEmail+`</ins>`,
			`href="/console/event/`+consoletest.EditedEventID+`"`, "no field changed")
	})

	t.Run("customer as of an earlier date", func(t *testing.T) {
		r := f.get(t, "/console/customer/"+consoletest.CustomerID+"?as_of=2025-02-01T00:00:00")
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		r.mustContain(t, "As it stood at <strong>2025-02-01 00:00:00Z</strong>", consoletest.OldEmail,
			"now: "+consoletest.NewEmail, `value="2025-02-01T00:00:00"`, `class="differs"`,
			`href="/console/subscription/`+consoletest.SubscriptionID+`"`)
		// The edit and the later events are not in that past, nor the
		// credit note created after it.
		r.mustNotContain(t, "customer.edited", consoletest.CreditNoteID)
		before := f.get(t, "/console/customer/"+consoletest.CustomerID+"?as_of=2024-12-31")
		if before.status != 404 {
			t.Errorf("before the customer existed: status %d", before.status)
		}
		before.mustContain(t, "no events about this customer up to then")
	})

	t.Run("other entity pages", func(t *testing.T) {
		for _, tc := range []struct {
			path  string
			wants []string
		}{
			{"/console/subscription/" + consoletest.SubscriptionID, []string{`href="/console/customer/` + consoletest.CustomerID + `"`,
				`href="/console/plan/` + consoletest.PlanID + `"`, `href="/console/invoice/` + consoletest.InvoiceID + `"`, "subscription.created"}},
			{"/console/invoice/" + consoletest.InvoiceID, []string{consoletest.InvoiceNumber, `href="/console/customer/` + consoletest.CustomerID + `"`,
				`href="/console/credit_note/` + consoletest.CreditNoteID + `"`, `<span class="field">status</span> <del>issued</del> → <ins>paid</ins>`}},
			{"/console/credit_note/" + consoletest.CreditNoteID, []string{consoletest.CreditNoteNo, `href="/console/invoice/` + consoletest.InvoiceID + `"`, "credit_note.issued"}},
			{"/console/plan/" + consoletest.PlanID, []string{"Pro &lt;b&gt;monthly&lt;/b&gt;", `href="/console/subscription/` + consoletest.SubscriptionID + `"`, "subscription.created"}},
		} {
			r := f.get(t, tc.path)
			if r.status != 200 {
				t.Fatalf("%s: status %d\n%s", tc.path, r.status, r.body)
			}
			r.mustContain(t, tc.wants...)
			r.mustNotContain(t, "<b>monthly")
		}
	})

	t.Run("raw event with its signature", func(t *testing.T) {
		r := f.get(t, "/console/event/"+consoletest.EditedEventID)
		if r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		r.mustContain(t, "signature verified", `&#34;previous_attributes&#34;`, `href="/console/customer/`+consoletest.CustomerID+`"`)
		f.get(t, "/console/event/"+consoletest.SnapshotEventID).mustContain(t, "not signed")
		if r := f.get(t, "/console/event/evt_missing"); r.status != 404 {
			t.Errorf("missing event: status %d", r.status)
		}
	})

	t.Run("not found and bad input", func(t *testing.T) {
		for path, want := range map[string]int{
			"/console/customer/cus_nobody": 404,
			"/console/widget/x":            404,
			"/console/nothing/here/at/all": 404,
			"/console/customer/" + consoletest.CustomerID + "?as_of=yesterday": 400,
		} {
			if r := f.get(t, path); r.status != want {
				t.Errorf("%s: status %d, want %d", path, r.status, want)
			}
		}
	})
}

// TestEscaping checks that payload strings, which Orb's users control,
// render as text everywhere they appear.
func TestEscaping(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hostileInputs := []string{
		"/console/search?q=" + url.QueryEscape(`"><script>alert(3)</script>`),
		"/console/customer/" + url.PathEscape(`<script>alert(4)</script>`),
	}
	for _, path := range hostileInputs {
		r := f.get(t, path)
		r.mustNotContain(t, "<script>alert")
		r.mustContain(t, "&lt;script&gt;alert(")
	}
	for _, path := range []string{
		"/console/customer/" + consoletest.CustomerID,
		"/console/customer/" + consoletest.CustomerID + "?as_of=2025-02-01",
		"/console/search?q=" + consoletest.ExternalID,
		"/console/subscription/" + consoletest.SubscriptionID,
		"/console/event/" + consoletest.EditedEventID,
	} {
		r := f.get(t, path)
		r.mustNotContain(t, "<script>alert", "<img src=x")
		if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the customer's name is not shown escaped", path)
		}
		// The only script is our file.
		if n := len(regexp.MustCompile(`<script`).FindAllString(r.body, -1)); n != 1 {
			t.Errorf("%s: %d script elements", path, n)
		}
	}
}

// TestAuthAndHeaders: ADMIN_TOKEN as bearer or basic-auth password, every
// response with the security headers, no secret in any page.
func TestAuthAndHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	page := f.server.URL + "/console/customer/" + consoletest.CustomerID
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope-nope-nope-nope") }, 401},
		{"token prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken[:20]) }, 401},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testToken) }, 200},
		{"basic, any user", func(r *http.Request) { r.SetBasicAuth("support", testToken) }, 200},
		{"basic, empty user", func(r *http.Request) { r.SetBasicAuth("", testToken) }, 200},
		{"basic, wrong password", func(r *http.Request) { r.SetBasicAuth(testToken, "wrong") }, 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, page, nil)
		tc.set(req)
		r := do(t, req)
		if r.status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, r.status, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: no basic-auth challenge", tc.name)
		}
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %s = %q", tc.name, h, got)
			}
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tc.name, csp)
		}
	}
	for _, path := range []string{"/console/", "/console/pipeline", "/console/customer/" + consoletest.CustomerID, "/console/event/" + consoletest.EditedEventID} {
		r := f.get(t, path)
		r.mustNotContain(t, testToken, consoletest.Secret)
	}
	if _, err := New(context.Background(), Config{Pool: f.schema.Pool, Schema: f.schema.Name, Token: "short"}); err == nil {
		t.Error("a short ADMIN_TOKEN was accepted")
	}
}

// TestEventSignatureMismatch: an event whose secret is no longer
// configured is not marked verified.
func TestEventSignatureMismatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "whsec_rotated_to_something_else")
	f.get(t, "/console/event/"+consoletest.EditedEventID).mustContain(t, "signature does not check")
}

// TestPipeline shows the projections and the dead letter, and retries it
// through the form, refusing a post without the form's token or from
// another site.
func TestPipeline(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.get(t, "/console/pipeline")
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	r.mustContain(t, `id="live"`, `data-refresh="5"`, "customers", "subscriptions", "evt_console_bad",
		"invalid input syntax for type numeric", `name="csrf" value="`+f.console.csrf+`"`, "Retry")

	post := func(form url.Values, header map[string]string) response {
		req, _ := http.NewRequest(http.MethodPost, f.server.URL+"/console/pipeline/retry", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+testToken)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return do(t, req)
	}
	if r := post(url.Values{"projection": {"customers"}}, nil); r.status != 403 {
		t.Errorf("no csrf token: status %d", r.status)
	}
	if r := post(url.Values{"csrf": {f.console.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != 403 {
		t.Errorf("cross-site post: status %d", r.status)
	}
	if r := post(url.Values{"csrf": {f.console.csrf}}, map[string]string{"Origin": "https://evil.example"}); r.status != 403 {
		t.Errorf("foreign origin: status %d", r.status)
	}
	if r := post(url.Values{"csrf": {f.console.csrf}, "projection": {"nope"}}, nil); r.status != 400 {
		t.Errorf("unknown projection: status %d", r.status)
	}
	r = post(url.Values{"csrf": {f.console.csrf}, "projection": {"customers"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if r.status != 303 || r.header.Get("Location") != "/console/pipeline?failed=1&projection=customers&resolved=0" {
		t.Fatalf("retry: status %d, location %q", r.status, r.header.Get("Location"))
	}
	f.get(t, r.header.Get("Location")).mustContain(t, "Retried dead letters of customers: 0 resolved, 1 still failing.")
	var retries int
	err := f.schema.Pool.QueryRow(context.Background(), "select retries from "+f.schema.Name+".dead_letters where event_id = 'evt_console_bad' and projection = 'customers'").Scan(&retries)
	if err != nil || retries != 1 {
		t.Errorf("retries = %d, %v", retries, err)
	}
	if r := f.get(t, "/console/pipeline/retry"); r.status != 405 && r.status != 404 {
		t.Errorf("GET retry: status %d", r.status)
	}
}

// TestPipelineRatesAndJobs: the webhook outcomes come from the receiver's
// own counters, and running jobs show their progress.
func TestPipelineRatesAndJobs(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	started := time.Now().Add(-time.Minute)
	f := newFixtureWith(t, func(cfg *Config) {
		cfg.Gatherer = reg
		cfg.Jobs = func() []Job {
			return []Job{{Kind: "rebuild customers", Running: true, StartedAt: started, Done: 250, Total: 1000,
				Unit: "log events", Detail: "0/1 tables · customers filling"}}
		}
	})
	a, err := eventlog.NewAppender(f.schema.Pool, eventlog.AppenderConfig{Schema: f.schema.Name})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Stop()
	receiver, err := webhook.NewReceiver(a, webhook.ReceiverConfig{Secrets: []string{consoletest.Secret}, Metrics: webhook.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	for i, signed := range []bool{true, true, false} {
		body := fmt.Appendf(nil, `{"id":"evt_rate_%d","type":"customer.edited","created_at":"2025-03-01T00:00:00Z","customer":{"id":"cus_rate"},"properties":{}}`, i)
		req := httptest.NewRequest(http.MethodPost, "/webhooks", bytes.NewReader(body))
		stamp := webhook.FormatTimestamp(time.Now())
		req.Header.Set(webhook.HeaderTimestamp, stamp)
		secret := consoletest.Secret
		if !signed {
			secret = "not-the-secret"
		}
		req.Header.Set(webhook.HeaderSignature, "v1="+eventlog.Sign(secret, stamp, body))
		receiver.ServeHTTP(httptest.NewRecorder(), req)
	}
	r := f.get(t, "/console/pipeline")
	r.mustContain(t, `<span class="outcome outcome-stored">stored 2</span>`, `<span class="outcome outcome-bad_signature">bad_signature 1</span>`,
		"rebuild customers", `<progress max="1000" value="250"></progress> 25%`, "customers filling")
}

// TestTimeline reads a long history through the history tables: the newest
// timelineLimit events, each with exactly the columns it changed versus
// the version before it (also the oldest listed, whose predecessor is not
// listed), events that changed nothing listed without changes, a late
// delivery in its place by Orb time, and the state as of a moment.
func TestTimeline(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	const n, late = 130, 60
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	name := func(i int) string {
		if i%10 == 5 { // repeats the previous event's object: no change
			i--
		}
		return fmt.Sprintf("name %d", i)
	}
	event := func(i int) consoletest.Event {
		return consoletest.Event{Body: fmt.Appendf(nil, `{"id":"evt_many_%d","type":"customer.edited","created_at":%q,"customer":{"id":"cus_many","name":%q,"email":"m@example.com"},"properties":{}}`,
			i, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), name(i))}
	}
	var events []consoletest.Event
	for i := range n {
		if i != late {
			events = append(events, event(i))
		}
	}
	appendEvents(t, s, logger, append(events, event(late)))
	rebuilder, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuilder.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	h := NewTableHistory(s.Pool, s.Name)

	tl, err := h.Timeline(ctx, "customer", "cus_many", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Events) != timelineLimit || !tl.Earlier || tl.State != nil {
		t.Fatalf("%d events, earlier %v, state %v; want %d, true, nil", len(tl.Events), tl.Earlier, tl.State, timelineLimit)
	}
	for k, e := range tl.Events {
		i := n - 1 - k
		if e.EventID != fmt.Sprintf("evt_many_%d", i) || !e.CreatedAt.Equal(base.Add(time.Duration(i)*time.Minute)) || e.ReceivedAt.IsZero() {
			t.Fatalf("event %d is %s at %s, want evt_many_%d", k, e.EventID, e.CreatedAt, i)
		}
		var want []Change
		if i%10 != 5 {
			want = []Change{{Field: "name", Old: jsonValue(name(i - 1)), New: jsonValue(name(i))}}
		}
		if fmt.Sprint(e.Changes) != fmt.Sprint(want) {
			t.Errorf("%s changed %s, want %s", e.EventID, e.Changes, want)
		}
	}

	at := base.Add(late*time.Minute + 30*time.Second)
	tl, err = h.Timeline(ctx, "customer", "cus_many", at)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Events) != late+1 || tl.Earlier || tl.Events[0].EventID != fmt.Sprintf("evt_many_%d", late) {
		t.Fatalf("as of %s: %d events from %s, earlier %v", at, len(tl.Events), tl.Events[0].EventID, tl.Earlier)
	}
	if first := tl.Events[len(tl.Events)-1]; len(first.Changes) != 3 { // id, name, email: a first version lists what it sets
		t.Errorf("first version changed %s", first.Changes)
	}
	if got := tl.State["name"].Text(); got != name(late) {
		t.Errorf("as of %s the name is %q, want %q", at, got, name(late))
	}
	if tl, err = h.Timeline(ctx, "customer", "cus_many", base.Add(-time.Second)); err != nil || tl.State != nil || len(tl.Events) != 0 {
		t.Errorf("before the first event: %d events, state %v, %v", len(tl.Events), tl.State, err)
	}
}

// TestEntityPageSaysHistoryIsPaused: with the customers' history paused
// by the leader's PROJECTOR_HISTORY, the entity page's timeline and as-of
// row stop at its checkpoint, and the page says so rather than show an
// old timeline as if it were whole.
func TestEntityPageSaysHistoryIsPaused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	page := "/console/customer/" + consoletest.CustomerID
	if r := f.get(t, page); r.status != 200 {
		t.Fatalf("status %d", r.status)
	} else {
		r.mustNotContain(t, "is paused")
	}
	var seq int64
	if err := f.schema.Pool.QueryRow(context.Background(), "update "+f.schema.Name+
		".projection_checkpoints set paused = true where projection = 'customers_history' returning seq").Scan(&seq); err != nil {
		t.Fatal(err)
	}
	notice := fmt.Sprintf("The history of <code>customers</code> is paused at log position %d (<code>PROJECTOR_HISTORY</code>)", seq)
	r := f.get(t, page)
	r.mustContain(t, notice, "the timeline leaves out every later event", "customer.edited")
	r = f.get(t, page+"?as_of=2025-02-01T00:00:00")
	r.mustContain(t, notice, "the timeline and the row as of then leave out every later event")
	// Other kinds' histories are live: no notice.
	f.get(t, "/console/invoice/"+consoletest.InvoiceID).mustNotContain(t, "is paused")
}
