package orbsync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi/orbapitest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// t0 is when the fake account's objects were created.
var t0 = time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)

// testBundle is a migrated schema, a fake Orb API, and a Runner reading the
// one into the other with retry waits recorded instead of slept.
type testBundle struct {
	schema *pgtest.Schema
	srv    *orbapitest.Server
	runner *Runner
	waits  *waitRecorder
	logs   *syncBuffer
}

type testOpts struct {
	pageSize int
	apiKey   string           // Defaults to the fake's key.
	now      func() time.Time // Defaults to time.Now.
}

func setup(t testing.TB, o testOpts) *testBundle {
	t.Helper()
	b := &testBundle{schema: pgtest.NewSchema(t), srv: orbapitest.New(t), waits: &waitRecorder{}, logs: &syncBuffer{}}
	level := slog.LevelInfo
	if os.Getenv("TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: level}))
	if tt, ok := t.(*testing.T); ok {
		tt.Cleanup(func() {
			if tt.Failed() {
				tt.Logf("logs:\n%s", b.logs.String())
			}
		})
	}
	key := o.apiKey
	if key == "" {
		key = b.srv.APIKey
	}
	client, err := orbapi.New(orbapi.Config{APIKey: key, BaseURL: b.srv.URL, RateLimit: -1, PageSize: o.pageSize,
		Timeout: 5 * time.Second, Logger: logger, Sleep: b.waits.sleep})
	if err != nil {
		t.Fatal(err)
	}
	b.runner, err = New(b.schema.Pool, client, Config{Schema: b.schema.Name, Logger: logger, Now: o.now})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitRecorder is an orbapi Sleep that records waits and returns at once.
type waitRecorder struct {
	mu sync.Mutex
	ds []time.Duration
}

func (w *waitRecorder) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ds = append(w.ds, d)
	return ctx.Err()
}

func (w *waitRecorder) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ds)
}

// syncBuffer collects logs from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// customerTemplate is a real customer object (FACTS.md samples).
var customerTemplate = func() map[string]any {
	raw, err := os.ReadFile("testdata/customer.json")
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		panic(err)
	}
	delete(m, "id") // Each customer gets its own.
	delete(m, "created_at")
	return m
}()

// customer returns customer i: the sample customer with its own id,
// creation time (one second apart) and fields.
func customer(i int, fields map[string]any) json.RawMessage {
	m := maps.Clone(customerTemplate)
	m["external_customer_id"] = fmt.Sprintf("ext_%05d", i)
	m["name"] = fmt.Sprintf("Customer %d", i)
	maps.Copy(m, fields)
	return orbapitest.Object(customerID(i), t0.Add(time.Duration(i)*time.Second), m)
}

func customerID(i int) string { return fmt.Sprintf("cus_%05d", i) }

// putCustomers adds customers 0..n-1 and returns their ids.
func putCustomers(t testing.TB, srv *orbapitest.Server, n int) []string {
	t.Helper()
	ids := make([]string, n)
	objs := make([]json.RawMessage, n)
	for i := range n {
		ids[i], objs[i] = customerID(i), customer(i, nil)
	}
	srv.Put("customers", objs...)
	return ids
}

// storedIDs returns, for resource, how many events of each object id the log
// holds with the given type.
func (b *testBundle) storedIDs(t testing.TB, eventType, resource string) map[string]int {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(),
		"select resource_id, count(*)::int from "+b.schema.Name+".events where type = $1 and resource_type = $2 group by 1",
		eventType, resource)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var id string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// assertStoredOnce fails unless the log holds exactly one snapshot of each
// of ids, and no other.
func (b *testBundle) assertStoredOnce(t testing.TB, resource string, ids []string) {
	t.Helper()
	got := b.storedIDs(t, "snapshot."+resource, resource)
	for _, id := range ids {
		if got[id] != 1 {
			t.Fatalf("%s %s stored %d times, want once", resource, id, got[id])
		}
	}
	if len(got) != len(ids) {
		t.Fatalf("log holds %d %s objects, want %d", len(got), resource, len(ids))
	}
}

// countEvents counts the log's events matching where.
func (b *testBundle) countEvents(t testing.TB, where string, args ...any) int {
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

// appendWebhook stores body as a delivered webhook.
func (b *testBundle) appendWebhook(t testing.TB, body []byte) {
	t.Helper()
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	a, err := eventlog.NewAppender(b.schema.Pool, eventlog.AppenderConfig{Schema: b.schema.Name})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppendBatch(context.Background(), []eventlog.Event{{Envelope: env, Body: body,
		OrbTimestamp: "2025-01-08T08:19:20.551", OrbSignature: "v1=00"}}); err != nil {
		t.Fatal(err)
	}
}

// webhookBody returns a webhook body about a resource object.
func webhookBody(id, eventType string, createdAt time.Time, resource string, obj json.RawMessage) []byte {
	return fmt.Appendf(nil, `{"id":%q,"type":%q,"created_at":%q,%q:%s,"properties":{}}`,
		id, eventType, orbapitest.Timestamp(createdAt), resource, obj)
}

// requestsTo returns the requests the fake received for path.
func requestsTo(srv *orbapitest.Server, path string) []orbapitest.Request {
	var out []orbapitest.Request
	for _, r := range srv.Requests() {
		if r.Path == "/v1/"+path {
			out = append(out, r)
		}
	}
	return out
}
