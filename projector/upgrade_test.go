package projector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// previousRelease is the schema version and the projection versions of
// the release before issue 9's projections.
const previousSchema = 5

var previousVersions = map[string]int{
	"customers": 2, "subscriptions": 1, "invoices": 1, "credit_notes": 1, "plans": 1, "billable_metrics": 1,
	"customer_balance_transactions": 1, "subscription_alerts": 1, "customer_credit_alerts": 1,
}

// TestUpgradeFromPreviousReleaseRebuilds starts this release on a
// database the previous release migrated and projected: the projections
// whose rules changed are rebuilt by themselves, the new tables fill from
// the log, and the unchanged ones are left alone.
func TestUpgradeFromPreviousReleaseRebuilds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := pgtest.NewEmptySchema(t)
	migrate(t, s, previousSchema)
	// What the previous release built from these events: the subscription
	// stayed on plan_1 (its plan_id came from the full plan), no customer
	// row (embedded customers were not read).
	full := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	full["status"] = "active"
	ident := pgx.Identifier{s.Name}.Sanitize()
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`insert into %[1]s.subscriptions (id, plan, customer, price_intervals, status, last_event_id, last_event_seq, last_event_at)
		 select $1::jsonb ->> 'id', $1::jsonb -> 'plan', $1::jsonb -> 'customer', $1::jsonb -> 'price_intervals', 'active',
		        'evt_changed', 2, $2`, []any{full, at(2)}},
		{`insert into %[1]s.credit_notes (id, memo, last_event_id, last_event_seq, last_event_at)
		 values ('cn_1', 'built before', 'evt_cn', 5, $1)`, []any{at(5)}},
	} {
		if _, err := s.Pool.Exec(ctx, fmt.Sprintf(stmt.sql, ident), stmt.args...); err != nil {
			t.Fatal(err)
		}
	}
	// credit_notes stands for a projection whose rule did not change: it
	// is stored at this binary's version (every projection of the previous
	// release has changed since; see the catalog's Version fields).
	stored := maps.Clone(previousVersions)
	unchanged, _ := projectionByName("credit_notes")
	stored["credit_notes"] = unchanged.Version
	for name, version := range stored {
		if _, err := s.Pool.Exec(ctx, fmt.Sprintf(`insert into %s.projection_checkpoints (projection, seq, version) values ($1, 5, $2)`, ident),
			name, version); err != nil {
			t.Fatal(err)
		}
	}

	migrate(t, s, 0)
	b := bundleOn(t, s)
	if got := b.row(t, "subscriptions", "sub_1")["plan_id"]; got != "plan_1" {
		t.Fatalf("the migration lost the stored plan_id: %v", got)
	}
	summary := summarySubscription("sub_1", "cus_1", "plan_2")
	// The log the previous release projected (appended now: this
	// binary's appender writes the current events table).
	b.append(t,
		event(t, "evt_sub", "subscription.created", at(1), map[string]any{"subscription": subscriptionObj(t, "sub_1", "cus_1", "plan_1")}),
		event(t, "evt_changed", "subscription.plan_changed", at(2), map[string]any{"subscription": summary}),
		event(t, "evt_pm", "payment_method.created", at(3), map[string]any{"payment_method": paymentMethodObj("pm_1", "cus_1", true)}),
		event(t, "evt_item", "snapshot.item", at(4), map[string]any{"item": itemObj("item_1")}),
		event(t, "evt_cn", "credit_note.issued", at(5), map[string]any{"credit_note": creditNoteObj("cn_1", "cus_1", "inv_1")}),
	)
	reg := prometheus.NewRegistry()
	b.start(t, Config{RebuildMetrics: NewRebuildMetrics(reg)})
	for name, version := range stored {
		if p, _ := projectionByName(name); p.Version != version {
			waitFor(t, name+" to be rebuilt", func() bool {
				return metricValue(t, reg, "orb_rebuild_runs_total", name, "swapped") == 1
			})
		}
	}
	b.waitCaughtUp(t)
	if got := b.row(t, "subscriptions", "sub_1")["plan_id"]; got != "plan_2" {
		t.Errorf("subscription on %v after the upgrade, want plan_2", got)
	}
	if c := b.row(t, "customers", "cus_1"); c["email"] == nil || c["default_payment_method"] == nil {
		t.Errorf("customer row after the upgrade = %v", c)
	}
	b.row(t, "items", "item_1")
	b.row(t, "payment_methods", "pm_1")
	if got := b.row(t, "credit_notes", "cn_1")["memo"]; got != "built before" {
		t.Errorf("credit_notes (unchanged projection) rebuilt: memo %v", got)
	}
	if got := metricValue(t, reg, "orb_rebuild_runs_total", "credit_notes", "swapped"); got != 0 {
		t.Errorf("credit_notes rebuilt %v times", got)
	}
	st, err := ReadStatus(ctx, s.Pool, s.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Projections {
		if p.StoredVersion != p.Version {
			t.Errorf("%s built by version %d, want %d", p.Projection, p.StoredVersion, p.Version)
		}
	}
}

// bundleOn returns a bundle appending to s.
func bundleOn(t *testing.T, s *pgtest.Schema) *testBundle {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(a.Stop)
	return &testBundle{schema: s, appender: a, logger: logger, appName: "t" + s.Name[len("test_"):]}
}

// migrate moves s to version (0: the latest).
func migrate(t *testing.T, s *pgtest.Schema, version int32) {
	t.Helper()
	ctx := context.Background()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if version == 0 {
		err = orbsql.Migrate(ctx, conn.Conn(), s.Name)
	} else {
		err = orbsql.MigrateTo(ctx, conn.Conn(), s.Name, version)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeRebuildsPricesFromVersion2 starts this release where prices'
// version 2 (the same schema) projected the log. That version dropped an
// event older than one of its prices' rows for all its prices, so a price
// first seen in such an event had no row. The table is rebuilt by itself:
// the row appears, and every table is what the log gives.
func TestUpgradeRebuildsPricesFromVersion2(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.append(t, subscriptionWithPlanPrices(t, "evt_new", 10, "", "price_a"))
	b.drain(t, 1000)
	b.append(t, subscriptionWithPlanPrices(t, "evt_old", 5, "", "price_a", "price_b"))
	b.drain(t, 1000)
	// What version 2 built from this log.
	for _, stmt := range []string{
		"delete from %s.prices where id = 'price_b'",
		"update %s.projection_checkpoints set version = 2 where projection = 'prices'",
	} {
		if _, err := b.schema.Pool.Exec(ctx, fmt.Sprintf(stmt, pgx.Identifier{b.schema.Name}.Sanitize())); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	b.start(t, Config{RebuildMetrics: NewRebuildMetrics(reg)})
	waitFor(t, "prices to be rebuilt", func() bool {
		return metricValue(t, reg, "orb_rebuild_runs_total", "prices", "swapped") == 1
	})
	b.waitCaughtUp(t)
	if got := b.row(t, "prices", "price_b")[colLastEventID]; got != "evt_old" {
		t.Errorf("price_b from %v, want evt_old", got)
	}
	if got := b.row(t, "prices", "price_a")[colLastEventID]; got != "evt_new" {
		t.Errorf("price_a from %v, want evt_new", got)
	}
	st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Projections {
		if p.StoredVersion != p.Version {
			t.Errorf("%s built by version %d, want %d", p.Projection, p.StoredVersion, p.Version)
		}
	}
	b.checkVerifies(t)
}
