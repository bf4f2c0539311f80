package projector

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// waitTimeout bounds every wait on background work. It is a bound, not a
// duration: a wait returns as soon as its condition holds. 15 s was once
// too short for TestNewLeadForgetsBackoff (four leads cut, four
// elections) while a fuzz run held both cores of the 2-core machine.
const waitTimeout = 60 * time.Second

type testBundle struct {
	schema   *pgtest.Schema
	appender *eventlog.Appender
	logger   *slog.Logger
	// appName is unique per test, so a test can kill its own connections.
	appName string
}

// setup returns a migrated schema and a started Appender on it.
func setup(t *testing.T) *testBundle {
	t.Helper()
	s := pgtest.NewSchema(t)
	level := slog.LevelInfo
	if os.Getenv("PROJECTOR_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(a.Stop)
	return &testBundle{schema: s, appender: a, logger: logger, appName: "t" + s.Name[len("test_"):]}
}

// config fills in what every test projector needs; fields set in cfg win.
func (b *testBundle) config(cfg Config) Config {
	cfg.Schema = b.schema.Name
	if cfg.Logger == nil {
		cfg.Logger = b.logger
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = b.appName
	}
	if cfg.ElectInterval == 0 {
		cfg.ElectInterval = 100 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 200 * time.Millisecond
	}
	if cfg.RoundIntervalMax == 0 {
		// A fixed interval: tests that append and wait in turn would
		// otherwise wait for the pacer's gathering (TestPacer* test it).
		cfg.RoundIntervalMax = cmp.Or(cfg.RoundInterval, roundIntervalDefault)
	}
	return cfg
}

// start returns a started projector, stopped when the test ends.
func (b *testBundle) start(t *testing.T, cfg Config) *Projector {
	t.Helper()
	p, err := New(b.schema.Pool, b.config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// drain applies everything synchronously, without goroutines, in batches
// of batchSize: the live path, deterministic for tests.
func (b *testBundle) drain(t *testing.T, batchSize int) *Projector {
	t.Helper()
	return b.drainWith(t, Config{BatchSize: batchSize})
}

// drainWith is drain with the projector configured by cfg.
func (b *testBundle) drainWith(t *testing.T, cfg Config) *Projector {
	t.Helper()
	p, err := New(b.schema.Pool, b.config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *testBundle) append(t *testing.T, events ...eventlog.Event) {
	t.Helper()
	res, err := b.appender.AppendBatch(context.Background(), events)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Duplicate {
			t.Fatalf("event %s is a duplicate", events[i].ID)
		}
	}
}

// waitCaughtUp waits until every projection has applied the whole log.
func (b *testBundle) waitCaughtUp(t *testing.T) Status {
	t.Helper()
	var st Status
	waitFor(t, "projections to catch up", func() bool {
		var err error
		st, err = ReadStatus(context.Background(), b.schema.Pool, b.schema.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Projections {
			if p.Checkpoint != st.Head {
				return false
			}
		}
		return true
	})
	return st
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rows returns every row of table as JSON objects by key, leaving out the
// given columns (e.g. last_event_seq, which depends on delivery order).
func (b *testBundle) rows(t *testing.T, table string, leaveOut ...string) map[string]map[string]any {
	t.Helper()
	p, ok := projectionByName(table)
	if !ok {
		t.Fatalf("no projection %s", table)
	}
	q := fmt.Sprintf("select %s, to_jsonb(r) - $1::text[] from %s r", rowKey(p), pgx.Identifier{b.schema.Name, table}.Sanitize())
	if leaveOut == nil {
		leaveOut = []string{}
	}
	if p.History && slices.Contains(leaveOut, colLastEventSeq) {
		leaveOut = append(leaveOut, colFoldedSeq) // Also a log position.
	}
	rows, err := b.schema.Pool.Query(context.Background(), q, leaveOut)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for rows.Next() {
		var key string
		var row map[string]any
		if err := rows.Scan(&key, &row); err != nil {
			t.Fatal(err)
		}
		out[key] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rowKey identifies a row of p's table in tests independently of delivery
// order: the key, and for a version its start and event.
func rowKey(p Projection) string {
	if p.History {
		return fmt.Sprintf("concat_ws('@', r.%s, r.valid_from, r.last_event_id)", pgx.Identifier{p.Key}.Sanitize())
	}
	return "r." + pgx.Identifier{p.Key}.Sanitize()
}

// row returns one row of table, failing if it is missing.
func (b *testBundle) row(t *testing.T, table, key string) map[string]any {
	t.Helper()
	r, ok := b.rows(t, table)[key]
	if !ok {
		t.Fatalf("%s has no row %q", table, key)
	}
	return r
}

func (b *testBundle) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.schema.Pool.QueryRow(context.Background(), "select count(*) from "+
		pgx.Identifier{b.schema.Name, table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sameRows fails the test with the first differences between two dumps.
func sameRows(t *testing.T, table string, got, want map[string]map[string]any) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("row %s missing", k))
			continue
		}
		for col := range w {
			if !reflect.DeepEqual(g[col], w[col]) {
				diffs = append(diffs, fmt.Sprintf("row %s column %s: got %.200v, want %.200v", k, col, g[col], w[col]))
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("row %s unexpected", k))
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... %d more", len(diffs)-10))
		}
		t.Fatalf("%s differs:\n%s", table, strings.Join(diffs, "\n"))
	}
}

// Fixtures: recorded Orb objects from testdata (FACTS.md samples), loaded
// fresh for each use so tests can change them.

func loadJSON(t testing.TB, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func customerObj(t testing.TB, id string) map[string]any {
	c := loadJSON(t, "customer.json")
	c["id"] = id
	c["external_customer_id"] = "ext_" + id
	return c
}

func planObj(t testing.TB, id string) map[string]any {
	p := loadJSON(t, "plan.json")
	p["id"] = id
	p["external_plan_id"] = "ext_" + id
	return p
}

func subscriptionObj(t testing.TB, id, customerID, planID string) map[string]any {
	s := loadJSON(t, "subscription.webhook.json")["subscription"].(map[string]any)
	s["id"] = id
	s["customer"] = customerObj(t, customerID)
	plan := s["plan"].(map[string]any)
	plan["id"] = planID
	plan["external_plan_id"] = "ext_" + planID
	return s
}

func invoiceObj(t testing.TB, id, customerID, subscriptionID string) map[string]any {
	inv := loadJSON(t, "invoice.webhook.json")["invoice"].(map[string]any)
	inv["id"] = id
	inv["customer"] = map[string]any{"id": customerID, "external_customer_id": "ext_" + customerID}
	inv["subscription"] = map[string]any{"id": subscriptionID}
	return inv
}

// creditNoteObj follows FACTS.md §5.4 (no recorded sample).
func creditNoteObj(id, customerID, invoiceID string) map[string]any {
	return map[string]any{
		"id": id, "created_at": "2025-01-09T10:00:00+00:00", "credit_note_number": "CN-" + id,
		"credit_note_pdf": nil, "customer": map[string]any{"id": customerID, "external_customer_id": "ext_" + customerID},
		"invoice_id": invoiceID, "line_items": []any{map[string]any{"id": "li_1", "amount": "5.00", "name": "Pro Plan"}},
		"maximum_amount_adjustment": nil, "memo": nil, "minimum_amount_refunded": nil, "reason": "Duplicate",
		"subtotal": "5.00", "total": "5.00", "type": "refund", "voided_at": nil, "discounts": []any{},
	}
}

// metricObj follows FACTS.md §5.6.
func metricObj(id string) map[string]any {
	return map[string]any{
		"id": id, "description": "API calls", "item": map[string]any{"id": "item_1", "name": "API"},
		"metadata": map[string]any{}, "name": "api_calls", "sql": "select count(*) from events",
		"status": "active", "parameter_definitions": nil,
	}
}

// lightSubscription is the webhook-only lightweight subscription.
func lightSubscription(id, customerID, planID string) map[string]any {
	return map[string]any{
		"id": id, "customer": map[string]any{"id": customerID, "external_customer_id": "ext_" + customerID},
		"start_date": "2025-01-01T00:00:00+00:00", "end_date": nil, "status": "active",
		"plan": map[string]any{"id": planID, "external_plan_id": "ext_" + planID, "name": "Light name"},
	}
}

// event builds an event of type typ created at at, whose payload holds
// fields (the resource key, properties), as the appender stores it.
func event(t testing.TB, id, typ string, at time.Time, fields map[string]any) eventlog.Event {
	t.Helper()
	payload := map[string]any{"id": id, "type": typ, "created_at": at.UTC().Format(time.RFC3339Nano), "properties": map[string]any{}}
	for k, v := range fields {
		payload[k] = v
	}
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	source := eventlog.SourceWebhook
	if strings.HasPrefix(typ, eventlog.SnapshotTypePrefix+".") {
		source = eventlog.SourceSnapshot
	}
	return eventlog.Event{Envelope: env, Source: source, Body: body}
}

// t0 is the time the test histories start at.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return t0.Add(time.Duration(seconds) * time.Second) }

// metricValue reads a counter or gauge from reg whose labels have the
// given values (in any order); 0 when absent.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labelValues ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var values []string
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			slices.Sort(values)
			want := slices.Sorted(slices.Values(labelValues))
			if !slices.Equal(values, want) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// The catalog's names, from projector/internal/fold.
var (
	catalog                      = fold.Projections()
	projectionByName             = fold.ProjectionByName
	customerTypes                = fold.CustomerTypes
	subscriptionTypes            = fold.SubscriptionTypes
	invoiceTypes                 = fold.InvoiceTypes
	subscriptionAlertTypes       = fold.SubscriptionAlertTypes
	customerCreditAlertTypes     = fold.CustomerCreditAlertTypes
	lightweightSubscriptionTypes = fold.LightweightSubscriptionTypes
	planTypes                    = fold.PlanTypes
	paymentMethodTypes           = fold.PaymentMethodTypes
	accountingSyncTypes          = fold.AccountingSyncTypes
)

const (
	colLastEventID  = fold.ColLastEventID
	colLastEventSeq = fold.ColLastEventSeq
	colLastEventAt  = fold.ColLastEventAt

	balanceTransactionType = fold.BalanceTransactionType
)
