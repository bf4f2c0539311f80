package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console/consoletest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

const testToken = "console-test-token-0123456789"

// fixture is a schema holding consoletest's history, projected, and a
// console serving it.
type fixture struct {
	schema  *pgtest.Schema
	console *Console
	server  *httptest.Server
}

// newFixture appends the fixture's events (webhooks signed with
// consoletest.Secret), folds them into the tables with the projector's own
// rebuild, and serves a console on them.
func newFixture(t *testing.T, secrets ...string) *fixture {
	return newFixtureWith(t, func(*Config) {}, secrets...)
}

// newFixtureWith is newFixture with the console's configuration adjusted.
func newFixtureWith(t *testing.T, adjust func(*Config), secrets ...string) *fixture {
	t.Helper()
	s := pgtest.NewSchema(t)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	appendEvents(t, s, logger, consoletest.Events())
	rebuilder, err := projector.NewRebuilder(s.Pool, projector.RebuildConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rebuilder.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if len(secrets) == 0 {
		secrets = []string{consoletest.Secret}
	}
	cfg := Config{Pool: s.Pool, Schema: s.Name, Token: testToken, Secrets: secrets, Logger: logger}
	adjust(&cfg)
	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &fixture{schema: s, console: c, server: srv}
}

func appendEvents(t testing.TB, s *pgtest.Schema, logger *slog.Logger, events []consoletest.Event) {
	t.Helper()
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Stop()
	stamp := webhook.FormatTimestamp(time.Now())
	for _, e := range events {
		env, err := eventlog.ParseEnvelope(e.Body)
		if err != nil {
			t.Fatal(err)
		}
		ev := eventlog.Event{Envelope: env, Body: e.Body, Source: "snapshot"}
		if !e.Snapshot {
			ev.Source, ev.OrbTimestamp, ev.OrbSignature = "webhook", stamp, "v1="+eventlog.Sign(consoletest.Secret, stamp, e.Body)
		}
		if _, err := a.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// response is a page as a client got it.
type response struct {
	status int
	header http.Header
	body   string
}

// get fetches path with the bearer token.
func (f *fixture) get(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// mustContain fails for each want missing from the page.
func (r response) mustContain(t *testing.T, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(r.body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", r.body)
		t.FailNow()
	}
}

func (r response) mustNotContain(t *testing.T, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(r.body, u) {
			t.Errorf("page contains %q", u)
		}
	}
}
