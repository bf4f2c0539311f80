package projector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Tests for payload shapes that used to come out wrong (issue 9), each
// replaying the sequence that showed it.

// summarySubscription is a subscription as summary webhooks send it:
// identification and status, no price intervals, the plan and customer
// cut down to their ids and names.
func summarySubscription(id, customerID, planID string) map[string]any {
	s := lightSubscription(id, customerID, planID)
	s["created_at"] = "2025-01-01T00:00:00+00:00"
	return s
}

func TestSummaryPlanChangedMovesPlanID(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"in order", "summary first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			events := []eventlog.Event{
				event(t, "evt_full", "subscription.created", at(1), map[string]any{"subscription": subscriptionObj(t, "sub_1", "cus_1", "plan_1")}),
				event(t, "evt_changed", "subscription.plan_changed", at(2), map[string]any{
					"subscription": summarySubscription("sub_1", "cus_1", "plan_2"),
					"properties":   map[string]any{"previous_plan_id": "plan_1"}}),
			}
			if order == "summary first" {
				slices.Reverse(events)
			}
			b := shapeRun(t, "subscriptions", bothBatchings, events...)
			row := b.row(t, "subscriptions", "sub_1")
			if row["plan_id"] != "plan_2" || row[colLastEventID] != "evt_changed" {
				t.Errorf("plan_id %v (last event %v), want plan_2", row["plan_id"], row[colLastEventID])
			}
			customer, _ := row["customer"].(map[string]any)
			if plan, _ := row["plan"].(map[string]any); plan["prices"] == nil || row["price_intervals"] == nil || customer["email"] == nil {
				t.Errorf("summary wiped the full plan, price intervals or customer")
			}
			if row["customer_id"] != "cus_1" || row["external_customer_id"] != "ext_cus_1" {
				t.Errorf("customer keys %v %v", row["customer_id"], row["external_customer_id"])
			}
		})
	}
}

func TestEmbeddedCustomerFeedsCustomers(t *testing.T) {
	t.Parallel()
	sub := func(name string) map[string]any {
		s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
		s["customer"].(map[string]any)["name"] = name
		return s
	}
	edited := func(name string) map[string]any {
		c := customerObj(t, "cus_1")
		c["name"] = name
		return c
	}
	for _, tc := range []struct {
		name   string
		events []eventlog.Event
		want   string
	}{
		{"only through subscriptions", []eventlog.Event{
			event(t, "evt_sub", "subscription.created", at(1), map[string]any{"subscription": sub("Embedded")}),
		}, "Embedded"},
		{"newer embedded copy wins", []eventlog.Event{
			event(t, "evt_edit", "customer.edited", at(1), map[string]any{"customer": edited("Edited")}),
			event(t, "evt_sub", "subscription.edited", at(2), map[string]any{"subscription": sub("Embedded")}),
		}, "Embedded"},
		{"older customer event delivered late loses", []eventlog.Event{
			event(t, "evt_sub", "subscription.edited", at(2), map[string]any{"subscription": sub("Embedded")}),
			event(t, "evt_edit", "customer.edited", at(1), map[string]any{"customer": edited("Edited")}),
		}, "Embedded"},
		{"newer customer event wins", []eventlog.Event{
			event(t, "evt_sub", "subscription.edited", at(1), map[string]any{"subscription": sub("Embedded")}),
			event(t, "evt_edit", "customer.edited", at(2), map[string]any{"customer": edited("Edited")}),
		}, "Edited"},
		{"summary subscription keeps the full customer", []eventlog.Event{
			event(t, "evt_edit", "customer.edited", at(1), map[string]any{"customer": edited("Edited")}),
			event(t, "evt_sum", "subscription.plan_changed", at(2), map[string]any{"subscription": summarySubscription("sub_1", "cus_1", "plan_2")}),
		}, "Edited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := shapeRun(t, "customers", bothBatchings, tc.events...)
			row := b.row(t, "customers", "cus_1")
			if row["name"] != tc.want || row["email"] == nil {
				t.Errorf("name %v email %v, want %s", row["name"], row["email"], tc.want)
			}
		})
	}
}

// balanceEvent is a customer.balance_transaction_created of a same-second
// burst: the embedded customer's balance is stale ("0.00").
func balanceEvent(t *testing.T, id string, sec int, from, to string) eventlog.Event {
	c := customerObj(t, "cus_1")
	c["balance"] = "0.00"
	return event(t, id, balanceTransactionType, at(sec), map[string]any{"customer": c, "properties": map[string]any{
		"balance_transaction": map[string]any{"id": "cbt_" + id, "action": "manual_adjustment", "amount": "1.00",
			"starting_balance": from, "ending_balance": to, "created_at": at(sec).Format("2006-01-02T15:04:05+00:00"),
			"type": "increment"}}})
}

func TestBalanceBurstFollowsTheChain(t *testing.T) {
	t.Parallel()
	a := balanceEvent(t, "evt_a", 1, "0.00", "10.00")
	b := balanceEvent(t, "evt_b", 1, "10.00", "25.00")
	c := balanceEvent(t, "evt_c", 1, "25.00", "5.00")
	for _, order := range [][]eventlog.Event{{a, b, c}, {c, a, b}, {b, c, a}, {c, b, a}} {
		var names []string
		for _, e := range order {
			names = append(names, e.ID)
		}
		t.Run(strings.Join(names, ","), func(t *testing.T) {
			t.Parallel()
			run := shapeRun(t, "customers", bothBatchings, order...)
			if got := run.row(t, "customers", "cus_1")["balance"]; got != 5.0 {
				t.Errorf("balance %v, want 5 (the end of the chain)", got)
			}
			if n := run.count(t, "customer_balance_transactions"); n != 3 {
				t.Errorf("%d balance transactions, want 3", n)
			}
		})
	}
	t.Run("a newer customer object wins", func(t *testing.T) {
		t.Parallel()
		newer := customerObj(t, "cus_1")
		newer["balance"] = "7.00"
		run := shapeRun(t, "customers", bothBatchings, c, a,
			event(t, "evt_edit", "customer.edited", at(2), map[string]any{"customer": newer}), b)
		if got := run.row(t, "customers", "cus_1")["balance"]; got != 7.0 {
			t.Errorf("balance %v, want 7", got)
		}
	})
	t.Run("a later transaction wins", func(t *testing.T) {
		t.Parallel()
		run := shapeRun(t, "customers", bothBatchings, balanceEvent(t, "evt_d", 2, "5.00", "4.00"), c, a, b)
		if got := run.row(t, "customers", "cus_1")["balance"]; got != 4.0 {
			t.Errorf("balance %v, want 4", got)
		}
	})
}

func TestInvoiceDateElapsedSetsInvoiceDate(t *testing.T) {
	t.Parallel()
	minified := map[string]any{"id": "inv_1", "invoice_number": "N-2", "status": "issued",
		"customer": map[string]any{"id": "cus_1", "external_customer_id": "ext_cus_1"}, "subscription": map[string]any{"id": "sub_1"}}
	b := shapeRun(t, "invoices", bothBatchings,
		event(t, "evt_full", "invoice.edited", at(1), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}),
		event(t, "evt_min", "invoice.invoice_date_elapsed", at(2), map[string]any{"invoice": minified,
			"properties": map[string]any{"invoice_date": "2025-04-01T00:00:00+00:00"}}),
	)
	if row := b.row(t, "invoices", "inv_1"); row["invoice_date"] != "2025-04-01T00:00:00+00:00" || row["line_items"] == nil {
		t.Errorf("invoice_date %v", row["invoice_date"])
	}
}

func TestAutomationStepFirstSeenInvoiceJoins(t *testing.T) {
	t.Parallel()
	b := shapeRun(t, "invoices", bothBatchings,
		event(t, "evt_auto", "invoice.automation_schedule_step_executed", at(1), map[string]any{"invoice": automationInvoice("inv_1", "12.50"),
			"properties": map[string]any{"actions": []any{"send_email"}, "step_id": "step_1"}}))
	row := b.row(t, "invoices", "inv_1")
	if row["customer_id"] != "cus_other" || row["external_customer_id"] != "ext_other" || row["subscription_id"] != "sub_other" {
		t.Errorf("first-seen invoice has join keys customer %v external %v subscription %v",
			row["customer_id"], row["external_customer_id"], row["subscription_id"])
	}
}

func TestUnappliedEventsAreCountedNotSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	b.append(t,
		event(t, "evt_sub", "subscription.created", at(1), map[string]any{"subscription": subscriptionObj(t, "sub_1", "cus_1", "plan_1")}),
		event(t, "evt_noid", "billable_metric.edited", at(2), map[string]any{"billable_metric": map[string]any{"name": "renamed"},
			"properties": map[string]any{"previous_attributes": map[string]any{"name": "old"}}}),
		event(t, "evt_alias", "plan.version_created", at(3), map[string]any{"plan": map[string]any{"external_plan_id": "ext_plan_1", "name": "By alias"},
			"properties": map[string]any{"plan_version_number": 2}}),
		event(t, "evt_unknown_alias", "plan.default_version_set", at(4), map[string]any{"plan": map[string]any{"external_plan_id": "ext_plan_9", "name": "Nine"},
			"properties": map[string]any{"new_default_version_number": 2, "previous_default_version_number": 1}}),
	)
	b.start(t, Config{Metrics: NewMetrics(reg)})
	b.waitCaughtUp(t)
	if row := b.row(t, "plans", "plan_1"); row["name"] != "By alias" || row[colLastEventID] != "evt_alias" {
		t.Errorf("plan named by alias not applied: name %v last %v", row["name"], row[colLastEventID])
	}
	dead, err := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range withoutHistory(dead) {
		got = append(got, d.Projection+"/"+d.EventID)
	}
	if want := []string{"billable_metrics/evt_noid", "plans/evt_unknown_alias"}; !slices.Equal(got, want) {
		t.Errorf("dead letters %v, want %v", got, want)
	}
	st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Projections {
		// The history tables fold by the same rule and set aside the same.
		want := map[string]int64{"billable_metrics": 1, "plans": 1, "billable_metrics_history": 1, "plans_history": 1}[p.Projection]
		if int64(p.DeadLetters) != want {
			t.Errorf("status: %s has %d dead letters, want %d", p.Projection, p.DeadLetters, want)
		}
	}
	// Both plan events were set aside at first (one batch: the plan came
	// with them), the one whose alias the batch introduced was applied
	// right after.
	for name, want := range map[string]float64{"billable_metrics": 1, "plans": 2} {
		if v := metricValue(t, reg, "orb_projection_unapplied_events_total", name); v != want {
			t.Errorf("orb_projection_unapplied_events_total{%s} = %v, want %v", name, v, want)
		}
	}
	// Once the alias is known, the event set aside applies by itself; the
	// id-less metric stays set aside, and a retry says so.
	b.append(t, event(t, "evt_snap", "snapshot.plan", at(0), map[string]any{"plan": planObj(t, "plan_9")}))
	b.waitCaughtUp(t)
	if row := b.row(t, "plans", "plan_9"); row["name"] != "Nine" {
		t.Errorf("alias event not applied once the alias was known: %v", row["name"])
	}
	res, err := RetryDeadLetters(ctx, b.schema.Pool, b.schema.Name, "billable_metrics")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resolved) != 0 || len(res.Failed) != 1 || res.Failed[0].EventID != "evt_noid" {
		t.Errorf("retry resolved %v, failed %v", res.Resolved, res.Failed)
	}
}

func TestIntegralNumbersFitIntegerColumns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	spelled := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	spelled["net_terms"], spelled["billing_cycle_day"] = 30.0, 1e1
	fraction := subscriptionObj(t, "sub_2", "cus_1", "plan_1")
	fraction["net_terms"] = 30.5
	// encoding/json writes 30.0 as 30: spell the numbers by hand.
	e1 := event(t, "evt_1", "subscription.created", at(1), map[string]any{"subscription": spelled})
	e1.Body = []byte(strings.Replace(strings.Replace(string(e1.Body), `"net_terms":30`, `"net_terms":30.0`, 1),
		`"billing_cycle_day":10`, `"billing_cycle_day":1E1`, 1))
	if !strings.Contains(string(e1.Body), `30.0`) || !strings.Contains(string(e1.Body), `1E1`) {
		t.Fatal("test body lacks the spelled numbers")
	}
	b.append(t, e1, event(t, "evt_2", "subscription.created", at(2), map[string]any{"subscription": fraction}))
	b.drain(t, 100)
	row := b.row(t, "subscriptions", "sub_1")
	if row["net_terms"] != 30.0 || row["billing_cycle_day"] != 10.0 {
		t.Errorf("net_terms %v billing_cycle_day %v", row["net_terms"], row["billing_cycle_day"])
	}
	dead, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	dead0 := dead
	if dead = withoutHistory(dead); len(dead) != 1 || dead[0].EventID != "evt_2" || dead[0].Projection != "subscriptions" {
		t.Errorf("dead letters %+v, want evt_2 in subscriptions", dead)
	}
	if n := b.count(t, "subscriptions"); n != 1 {
		t.Errorf("%d subscriptions, want 1", n)
	}
	// The history rewrites the same spellings, and refuses the same fraction.
	var netTerms, cycleDay int
	if err := b.schema.Pool.QueryRow(context.Background(), "select net_terms, billing_cycle_day from "+
		pgx.Identifier{b.schema.Name, "subscriptions_history"}.Sanitize()+" where id = 'sub_1'").Scan(&netTerms, &cycleDay); err != nil {
		t.Fatal(err)
	}
	if netTerms != 30 || cycleDay != 10 {
		t.Errorf("history: net_terms %d billing_cycle_day %d", netTerms, cycleDay)
	}
	var historyDead []string
	for _, d := range dead0 {
		if d.Projection == "subscriptions_history" {
			historyDead = append(historyDead, d.EventID)
		}
	}
	if !slices.Equal(historyDead, []string{"evt_2"}) {
		t.Errorf("subscriptions_history dead letters %v, want evt_2", historyDead)
	}
	if n := b.count(t, "subscriptions_history"); n != 1 {
		t.Errorf("%d subscription versions, want 1", n)
	}
	_ = fmt.Sprint
}
