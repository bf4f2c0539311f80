package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

const testSecret = "whsec_test_secret"

type testBundle struct {
	schema   *pgtest.Schema
	appender *eventlog.Appender
	server   *httptest.Server
	now      time.Time
}

// setup returns a migrated schema, a started eventlog.Appender on pool (the schema's
// pool when nil) and a webhook server in front of it.
func setup(t *testing.T, pool *pgxpool.Pool) *testBundle {
	t.Helper()
	s := pgtest.NewSchema(t)
	if pool == nil {
		pool = s.Pool
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	a, err := eventlog.NewAppender(pool, eventlog.AppenderConfig{Schema: s.Name, WriteTimeout: 3 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(a.Stop)
	b := &testBundle{schema: s, appender: a, now: time.Now()}
	rc, err := NewReceiver(a, ReceiverConfig{Secrets: []string{"older-secret", testSecret}, MaxBodyBytes: 64 << 10, AppendTimeout: 3 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	b.server = httptest.NewServer(rc)
	t.Cleanup(b.server.Close)
	return b
}

func eventBody(id, typ string) []byte {
	return fmt.Appendf(nil, `{"id": %q, "created_at": "2025-01-08T08:19:20.763280+00:00", "type": %q, "customer": {"id": "cus_%s", "name": "A"}, "properties": {}}`, id, typ, id)
}

// post sends body signed with secret at time ts.
func (b *testBundle) post(t *testing.T, body []byte, secret string, ts time.Time) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.server.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stamp := FormatTimestamp(ts)
	req.Header.Set(HeaderTimestamp, stamp)
	req.Header.Set(HeaderSignature, "v1="+eventlog.Sign(secret, stamp, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

func (b *testBundle) count(t *testing.T, where string, args ...any) int {
	t.Helper()
	var n int
	q := "select count(*) from " + b.schema.Name + ".events"
	if where != "" {
		q += " where " + where
	}
	if err := b.schema.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
