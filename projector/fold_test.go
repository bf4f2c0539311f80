package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// typeCase is one event type with a recorded-shape payload and the rows it
// must write.
type typeCase struct {
	typ    string
	fields map[string]any
	// rows are (table, key) pairs the event must have written last; a key
	// of "" means the event id.
	rows [][2]string
}

// typeCases covers every event type a projection reads (checked below),
// plus shapes that must write nothing.
func typeCases(t *testing.T) []typeCase {
	var cases []typeCase
	add := func(typ string, fields map[string]any, rows ...[2]string) {
		cases = append(cases, typeCase{typ: typ, fields: fields, rows: rows})
	}
	for i, typ := range append(slices.Clone(customerTypes), balanceTransactionType) {
		id := fmt.Sprintf("cus_%d", i)
		props := map[string]any{}
		rows := [][2]string{{"customers", id}}
		switch {
		case typ == balanceTransactionType:
			props["balance_transaction"] = map[string]any{"id": "cbt_" + id, "action": "manual_adjustment", "amount": "10.00",
				"starting_balance": "0.00", "ending_balance": "10.00", "created_at": "2025-03-01T12:00:00+00:00",
				"credit_note": nil, "invoice": map[string]any{"id": "inv_x"}, "description": "top-up", "type": "increment"}
			rows = append(rows, [2]string{"customer_balance_transactions", "cbt_" + id})
		case slices.Contains(customerCreditAlertTypes, typ):
			props["alert_configuration"] = map[string]any{"id": "alert_1", "type": "credit_balance_dropped", "enabled": true}
			props["balance_threshold"] = "5.00"
			props["pricing_unit"] = map[string]any{"id": "pu_1", "name": "credits"}
			rows = append(rows, [2]string{"customer_credit_alerts", ""})
		}
		add(typ, map[string]any{"customer": customerObj(t, id), "properties": props}, rows...)
	}
	for i, typ := range subscriptionTypes {
		id, plan := fmt.Sprintf("sub_%d", i), fmt.Sprintf("plan_s%d", i)
		rows := [][2]string{{"subscriptions", id}, {"plans", plan}, {"plan_versions", plan + "@12"}, {"customers", "cus_s"}}
		rows = append(rows, planPriceRows(t)...)
		props := map[string]any{}
		if slices.Contains(subscriptionAlertTypes, typ) {
			props = alertProperties()
			rows = append(rows, [2]string{"subscription_alerts", ""})
		}
		add(typ, map[string]any{"subscription": subscriptionObj(t, id, "cus_s", plan), "properties": props}, rows...)
	}
	for _, typ := range lightweightSubscriptionTypes {
		rows := [][2]string{{"subscriptions", "sub_light"}}
		if slices.Contains(subscriptionAlertTypes, typ) {
			rows = append(rows, [2]string{"subscription_alerts", ""})
		}
		add(typ, map[string]any{"subscription": lightSubscription("sub_light", "cus_l", "plan_light"), "properties": alertProperties()},
			rows...)
	}
	for i, typ := range invoiceTypes {
		id := fmt.Sprintf("inv_%d", i)
		add(typ, map[string]any{"invoice": invoiceObj(t, id, "cus_i", "sub_i")}, [2]string{"invoices", id})
	}
	add("invoice.invoice_date_elapsed", map[string]any{"invoice": map[string]any{"id": "inv_min", "invoice_number": "N-1",
		"status": "issued", "customer": map[string]any{"id": "cus_i", "external_customer_id": nil}, "subscription": nil},
		"properties": map[string]any{"invoice_date": "2025-03-01T00:00:00+00:00"}}, [2]string{"invoices", "inv_min"})
	add("invoice.automation_schedule_step_executed", map[string]any{"invoice": automationInvoice("inv_auto", "25.00")},
		[2]string{"invoices", "inv_auto"})
	add("invoice.cost_data_exported", map[string]any{"invoice": "inv_cost", "properties": map[string]any{"s3_key": "k"}})
	for i, typ := range []string{"credit_note.accounting_sync_failed", "credit_note.accounting_sync_succeeded",
		"credit_note.issued", "credit_note.marked_as_void", "snapshot.credit_note"} {
		id := fmt.Sprintf("cn_%d", i)
		add(typ, map[string]any{"credit_note": creditNoteObj(id, "cus_c", "inv_c")}, [2]string{"credit_notes", id})
	}
	add("snapshot.plan", map[string]any{"plan": planObj(t, "plan_snap")}, append(planPriceRows(t), [2]string{"plans", "plan_snap"},
		[2]string{"plan_versions", "plan_snap@12"})...)
	add("plan.default_version_set", map[string]any{"plan": map[string]any{"id": "plan_min1", "name": "Renamed"}},
		[2]string{"plans", "plan_min1"})
	add("plan.version_created", map[string]any{"plan": map[string]any{"id": "plan_min2", "external_plan_id": "ext"},
		"properties": map[string]any{"plan_version_number": 3}}, [2]string{"plans", "plan_min2"}, [2]string{"plan_versions", "plan_min2@3"})
	add("plan.version_created", map[string]any{"plan": map[string]any{"name": "No id"}})
	add("billable_metric.edited", map[string]any{"billable_metric": metricObj("bm_1")}, [2]string{"billable_metrics", "bm_1"})
	add("billable_metric.edited", map[string]any{"billable_metric": map[string]any{"name": "no id"}})
	add("reconcile.missing", map[string]any{"resource_type": "customer", "customer": map[string]any{"id": "cus_gone"}},
		[2]string{"customers", "cus_gone"})
	add("snapshot.billable_metric", map[string]any{"billable_metric": metricObj("bm_2")}, [2]string{"billable_metrics", "bm_2"})
	add("snapshot.item", map[string]any{"item": itemObj("item_1")}, [2]string{"items", "item_1"})
	add("snapshot.coupon", map[string]any{"coupon": couponObj("cpn_1")}, [2]string{"coupons", "cpn_1"})
	add("snapshot.price", map[string]any{"price": priceObj(t, "price_1")}, [2]string{"prices", "price_1"})
	add("price.edited", map[string]any{"price": priceObj(t, "price_2"),
		"properties": map[string]any{"previous_attributes": map[string]any{"metadata": map[string]any{}}}}, [2]string{"prices", "price_2"})
	add("payment_method.created", map[string]any{"payment_method": paymentMethodObj("pm_1", "cus_pm", true)},
		[2]string{"payment_methods", "pm_1"}, [2]string{"customers", "cus_pm"})
	add("payment_method.deleted", map[string]any{"payment_method": paymentMethodObj("pm_2", "cus_pm", false)},
		[2]string{"payment_methods", "pm_2"}, [2]string{"customers", "cus_pm"})
	for i, typ := range []string{"credit_block.accounting_sync_failed", "credit_block.accounting_sync_succeeded"} {
		id := fmt.Sprintf("blk_%d", i)
		add(typ, map[string]any{"block": blockObj(id), "accounting_sync_record": syncRecord("cus_b", "block"),
			"properties": map[string]any{"connection_type": "netsuite", "failure_reason": "no account"}},
			[2]string{"credit_blocks", id})
	}
	for i, typ := range []string{"transaction.accounting_sync_failed", "transaction.accounting_sync_succeeded"} {
		id := fmt.Sprintf("txn_%d", i)
		add(typ, map[string]any{"transaction": map[string]any{"id": id, "amount": "5.00", "created_at": "2025-03-01T00:00:00+00:00",
			"succeeded": true}, "accounting_sync_record": syncRecord("cus_t", "transaction"),
			"properties": map[string]any{"connection_type": "quickbooks"}})
	}
	for i := range cases {
		if slices.Contains(accountingSyncTypes, cases[i].typ) {
			id := cases[i].fields[strings.SplitN(cases[i].typ, ".", 2)[0]]
			if strings.HasPrefix(cases[i].typ, "credit_block.") {
				id = cases[i].fields["block"]
			} else if strings.HasPrefix(cases[i].typ, "sales_order.") {
				id = cases[i].fields["invoice"]
			}
			cases[i].rows = append(cases[i].rows, [2]string{"accounting_sync", id.(map[string]any)["id"].(string)})
		}
	}
	return cases
}

// itemObj follows FACTS.md §5.7.
func itemObj(id string) map[string]any {
	return map[string]any{"id": id, "created_at": "2025-01-01T00:00:00+00:00", "name": "API calls",
		"external_connections": []any{map[string]any{"external_connection_name": "stripe", "external_entity_id": "prod_1"}},
		"metadata":             map[string]any{}, "archived_at": nil}
}

// couponObj follows FACTS.md §5.8.
func couponObj(id string) map[string]any {
	return map[string]any{"id": id, "archived_at": "2025-02-01T00:00:00+00:00", "redemption_code": "SAVE10",
		"discount":           map[string]any{"discount_type": "percentage", "percentage_discount": 0.1, "applies_to_price_ids": []any{}},
		"duration_in_months": 3, "max_redemptions": nil, "times_redeemed": 7}
}

// priceObj is the recorded usage price of the plan fixture.
func priceObj(t testing.TB, id string) map[string]any {
	for _, p := range loadJSON(t, "plan.json")["prices"].([]any) {
		if p := p.(map[string]any); p["billable_metric"] != nil {
			p["id"] = id
			return p
		}
	}
	t.Fatal("no usage price in plan.json")
	return nil
}

// paymentMethodObj follows FACTS.md §2.2 #48.
func paymentMethodObj(id, customerID string, isDefault bool) map[string]any {
	return map[string]any{"id": id, "created_at": "2025-03-01T00:00:00+00:00", "customer_id": customerID,
		"default": isDefault, "external_payment_method_id": "ext_" + id, "payment_method_type": "card", "provider_type": "stripe"}
}

// blockObj follows FACTS.md §2.2 #4.
func blockObj(id string) map[string]any {
	return map[string]any{"id": id, "balance": "100.00", "effective_date": "2025-03-01T00:00:00+00:00", "expiry_date": nil,
		"filters": []any{}, "maximum_initial_balance": "100.00", "metadata": map[string]any{}, "per_unit_cost_basis": "0.50",
		"status": "active", "credit_block_source": "allocation"}
}

func syncRecord(customerID, recordType string) map[string]any {
	return map[string]any{"id": "asr_1", "customer_id": customerID, "record_type": recordType, "status": "failed"}
}

func alertProperties() map[string]any {
	return map[string]any{
		"alert_configuration": map[string]any{"id": "alert_s", "type": "usage_exceeded", "enabled": true},
		"billable_metric_id":  "bm_1", "quantity_threshold": 100, "evaluated_quantity": 150.5,
		"amount_threshold": "20.00", "evaluated_amount": 25,
		"timeframe_start": "2025-03-01T00:00:00+00:00", "timeframe_end": "2025-04-01T00:00:00+00:00",
	}
}

// automationInvoice is the flat invoice of
// invoice.automation_schedule_step_executed (FACTS.md §2.2 #25).
func automationInvoice(id, amountDue string) map[string]any {
	return map[string]any{"id": id, "amount_due": amountDue, "currency": "USD", "customer_id": "cus_other",
		"customer_name": "Other", "due_date": "2025-03-15", "external_customer_id": "ext_other",
		"hosted_invoice_url": "https://pay/x", "invoice_date": "2025-03-01T00:00:00+00:00", "invoice_number": "A-1",
		"issued_at": "2025-03-01T01:00:00+00:00", "memo": "automated", "payment_method_last_four_digits": "4242",
		"status": "issued", "subscription_id": "sub_other"}
}

// TestEveryEventTypeProjects appends one recorded-shape event of every type
// the catalog reads and checks each landed where it should.
func TestEveryEventTypeProjects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := typeCases(t)
	covered := map[string]bool{}
	var events []eventlog.Event
	for i, c := range cases {
		covered[c.typ] = true
		events = append(events, event(t, fmt.Sprintf("evt_%03d", i), c.typ, at(i), c.fields))
	}
	for _, p := range catalog {
		for _, typ := range p.Types() {
			if !covered[typ] {
				t.Errorf("no fixture for %s (read by %s)", typ, p.Name)
			}
		}
	}
	b.append(t, events...)
	b.drain(t, 7)
	written := map[string]int{}
	for i, c := range cases {
		for _, r := range c.rows {
			key := r[1]
			if key == "" {
				key = events[i].ID
			}
			row := b.row(t, r[0], key)
			written[r[0]]++
			if r[0] == "plans" || r[0] == "plan_versions" || r[0] == "customers" || r[1] == "sub_light" ||
				slices.Contains(planPriceRows(t), r) {
				continue // Several events may write these rows; checked by the tests below.
			}
			if row[colLastEventID] != events[i].ID {
				t.Errorf("%s: %s row %s was last written by %v", c.typ, r[0], key, row[colLastEventID])
			}
		}
	}
	b.checkHistoryMatchesCurrent(t)
	for _, p := range catalog {
		if p.History {
			continue // Checked above.
		}
		if n := b.count(t, p.Table); n != distinctRows(cases, p.Table, events) {
			t.Errorf("%s has %d rows, want %d", p.Table, n, distinctRows(cases, p.Table, events))
		}
	}
	alert := b.row(t, "subscription_alerts", events[slices.IndexFunc(cases, func(c typeCase) bool {
		return c.typ == "subscription.grouped_cost_exceeded"
	})].ID)
	if alert["subscription_id"] != "sub_light" || alert["customer_id"] != "cus_l" || alert["plan_id"] != "plan_light" ||
		alert["evaluated_quantity"] != 150.5 || alert["amount_threshold"] != 20.0 || alert["alert_id"] != "alert_s" {
		t.Errorf("alert row = %v", alert)
	}
	btCustomer := fmt.Sprintf("cus_%d", len(customerTypes))
	cbt := b.row(t, "customer_balance_transactions", "cbt_"+btCustomer)
	if cbt["customer_id"] != btCustomer || cbt["amount"] != 10.0 || cbt["invoice_id"] != "inv_x" {
		t.Errorf("balance transaction row = %v", cbt)
	}
}

// planPriceRows are the prices rows of the fixture plan's prices, which
// every full subscription and plan snapshot carries.
func planPriceRows(t *testing.T) [][2]string {
	var rows [][2]string
	for _, p := range loadJSON(t, "plan.json")["prices"].([]any) {
		rows = append(rows, [2]string{"prices", p.(map[string]any)["id"].(string)})
	}
	return rows
}

func distinctRows(cases []typeCase, table string, events []eventlog.Event) int {
	keys := map[string]bool{}
	for i, c := range cases {
		for _, r := range c.rows {
			if r[0] == table {
				key := r[1]
				if key == "" {
					key = events[i].ID
				}
				keys[key] = true
			}
		}
	}
	return len(keys)
}

// shapeRun delivers events (in the given order) and drains with each batch
// size in a fresh schema, checks every run gives the same table, and
// returns the last run's bundle.
func shapeRun(t *testing.T, table string, batchSizes []int, events ...eventlog.Event) *testBundle {
	t.Helper()
	var first map[string]map[string]any
	var b *testBundle
	for _, size := range batchSizes {
		b = setup(t)
		for _, e := range events {
			b.append(t, e) // One append each, so each is its own log position.
		}
		b.drain(t, size)
		got := b.rows(t, table, colLastEventSeq)
		if first == nil {
			first = got
			continue
		}
		sameRows(t, table+fmt.Sprintf(" (batch %d)", size), got, first)
	}
	return b
}

// Each shape test runs with batch size 1 (every event folded onto the
// stored row) and 100 (all events in one fold), which must agree.
var bothBatchings = []int{1, 100}

func TestSummaryInvoiceKeepsLineItems(t *testing.T) {
	t.Parallel()
	full := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	summary := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	for _, k := range []string{"line_items", "minimum", "maximum", "discounts"} {
		delete(summary, k)
	}
	summary["status"], summary["amount_due"] = "void", "0.00"
	for _, order := range []string{"in order", "summary first"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			events := []eventlog.Event{
				event(t, "evt_full", "invoice.issued", at(1), map[string]any{"invoice": full}),
				event(t, "evt_summary", "invoice.manually_marked_as_void", at(2), map[string]any{"invoice": summary}),
			}
			if order == "summary first" {
				slices.Reverse(events)
			}
			b := shapeRun(t, "invoices", bothBatchings, events...)
			row := b.row(t, "invoices", "inv_1")
			if row["status"] != "void" || row["amount_due"] != 0.0 || row[colLastEventID] != "evt_summary" {
				t.Errorf("summary keys not merged: %v %v %v", row["status"], row["amount_due"], row[colLastEventID])
			}
			if items, _ := row["line_items"].([]any); len(items) != 1 || row["discounts"] == nil {
				t.Errorf("summary destroyed line items / discounts: %v %v", row["line_items"], row["discounts"])
			}
		})
	}
}

func TestSummarySubscriptionKeepsCustomerAndPlan(t *testing.T) {
	t.Parallel()
	full := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	summary := map[string]any{"id": "sub_1", "status": "ended", "end_date": "2025-03-02T00:00:00+00:00",
		"customer": map[string]any{"id": "cus_1"}, "plan": map[string]any{"id": "plan_1", "name": "Renamed plan"}}
	b := shapeRun(t, "subscriptions", bothBatchings,
		event(t, "evt_full", "subscription.created", at(1), map[string]any{"subscription": full}),
		event(t, "evt_summary", "subscription.ended", at(2), map[string]any{"subscription": summary}),
	)
	row := b.row(t, "subscriptions", "sub_1")
	if row["status"] != "ended" || row["end_date"] == nil {
		t.Errorf("summary keys not merged: %v %v", row["status"], row["end_date"])
	}
	customer, _ := row["customer"].(map[string]any)
	plan, _ := row["plan"].(map[string]any)
	if row["price_intervals"] == nil || customer["email"] == nil || plan["prices"] == nil || row["plan_id"] != "plan_1" {
		t.Errorf("summary destroyed full data: price_intervals=%.50v customer=%.50v plan=%.50v", row["price_intervals"], customer, plan)
	}
	p := b.row(t, "plans", "plan_1")
	if p["name"] != "Renamed plan" || p["prices"] == nil {
		t.Errorf("plan row: name %v, prices kept %v", p["name"], p["prices"] != nil)
	}
}

func TestMinifiedInvoiceDateElapsedMergesStatusOnly(t *testing.T) {
	t.Parallel()
	minified := map[string]any{"id": "inv_1", "invoice_number": "N-2", "status": "issued",
		"customer": map[string]any{"id": "cus_1", "external_customer_id": "ext_cus_1"}, "subscription": map[string]any{"id": "sub_1"}}
	full := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	full["status"] = "draft"
	b := shapeRun(t, "invoices", bothBatchings,
		event(t, "evt_full", "invoice.edited", at(1), map[string]any{"invoice": full}),
		event(t, "evt_min", "invoice.invoice_date_elapsed", at(2), map[string]any{"invoice": minified,
			"properties": map[string]any{"invoice_date": "2025-03-01T00:00:00+00:00"}}),
	)
	row := b.row(t, "invoices", "inv_1")
	if row["status"] != "issued" || row["invoice_number"] != "N-2" || row["amount_due"] != 25.0 ||
		row["line_items"] == nil || row["customer_id"] != "cus_1" || row["subscription_id"] != "sub_1" {
		t.Errorf("row = status %v number %v amount %v customer %v", row["status"], row["invoice_number"], row["amount_due"], row["customer_id"])
	}
}

func TestAutomationStepMergesAllowedKeys(t *testing.T) {
	t.Parallel()
	b := shapeRun(t, "invoices", bothBatchings,
		event(t, "evt_full", "invoice.issued", at(1), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_other", "sub_other")}),
		event(t, "evt_auto", "invoice.automation_schedule_step_executed", at(2), map[string]any{"invoice": automationInvoice("inv_1", "12.50")}),
	)
	row := b.row(t, "invoices", "inv_1")
	if row["amount_due"] != 12.5 || row["memo"] != "automated" || row["due_date"] != "2025-03-15T00:00:00+00:00" {
		t.Errorf("allowed keys not merged: %v %v %v", row["amount_due"], row["memo"], row["due_date"])
	}
	if row["customer_id"] != "cus_other" || row["external_customer_id"] != "ext_other" || row["subscription_id"] != "sub_other" ||
		row["line_items"] == nil || row["total"] != 25.0 {
		t.Errorf("flat invoice changed other keys: customer %v subscription %v total %v", row["customer_id"], row["subscription_id"], row["total"])
	}
}

func TestCostDataExportedIsIgnored(t *testing.T) {
	t.Parallel()
	b := shapeRun(t, "invoices", bothBatchings,
		event(t, "evt_full", "invoice.issued", at(1), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}),
		event(t, "evt_cost", "invoice.cost_data_exported", at(2), map[string]any{"invoice": "inv_1",
			"properties": map[string]any{"exported_date": "2025-03-02", "s3_bucket": "b", "s3_key": "k"}}),
	)
	if row := b.row(t, "invoices", "inv_1"); row[colLastEventID] != "evt_full" {
		t.Errorf("cost_data_exported touched the row: last event %v", row[colLastEventID])
	}
}

func TestMinimalPlanRenamesOnly(t *testing.T) {
	t.Parallel()
	b := shapeRun(t, "plans", bothBatchings,
		event(t, "evt_sub", "subscription.created", at(1), map[string]any{"subscription": subscriptionObj(t, "sub_1", "cus_1", "plan_1")}),
		event(t, "evt_plan", "plan.version_created", at(2), map[string]any{"plan": map[string]any{"id": "plan_1", "name": "Pro v2"},
			"properties": map[string]any{"plan_version_number": 2}}),
		event(t, "evt_noid", "plan.default_version_set", at(3), map[string]any{"plan": map[string]any{"name": "Lost"}}),
	)
	row := b.row(t, "plans", "plan_1")
	if row["name"] != "Pro v2" || row["prices"] == nil || row["external_plan_id"] != "ext_plan_1" || row[colLastEventID] != "evt_plan" {
		t.Errorf("plan row: name %v prices kept %v external %v last %v", row["name"], row["prices"] != nil, row["external_plan_id"], row[colLastEventID])
	}
}

// TestLightweightSubscriptionMovesPlan: a lightweight subscription (alert
// events, summary plan_changed) moves the row's status and join keys but
// keeps the full plan and price intervals only a full payload replaces.
func TestLightweightSubscriptionMovesPlan(t *testing.T) {
	t.Parallel()
	light := lightSubscription("sub_1", "cus_1", "plan_2")
	light["status"] = "ended"
	b := shapeRun(t, "subscriptions", bothBatchings,
		event(t, "evt_full", "subscription.created", at(1), map[string]any{"subscription": subscriptionObj(t, "sub_1", "cus_1", "plan_1")}),
		event(t, "evt_alert", "subscription.grouped_cost_exceeded", at(2), map[string]any{
			"subscription": light, "properties": alertProperties()}),
	)
	row := b.row(t, "subscriptions", "sub_1")
	if row["plan_id"] != "plan_2" || row["status"] != "ended" || row["customer_id"] != "cus_1" || row[colLastEventID] != "evt_alert" {
		t.Errorf("lightweight subscription not merged: plan %v status %v customer %v last %v",
			row["plan_id"], row["status"], row["customer_id"], row[colLastEventID])
	}
	if plan, _ := row["plan"].(map[string]any); row["price_intervals"] == nil || plan["prices"] == nil {
		t.Errorf("lightweight subscription wiped full data: price_intervals %.50v plan %.50v", row["price_intervals"], plan)
	}
	if b.row(t, "plans", "plan_1")["name"] == "Light name" {
		t.Error("lightweight subscription renamed the plan")
	}
	if a := b.row(t, "subscription_alerts", "evt_alert"); a["subscription_id"] != "sub_1" || a["type"] != "subscription.grouped_cost_exceeded" {
		t.Errorf("alert row = %v", a)
	}
}

// TestLateEventNeverOverwrites delivers an older full object after a newer
// one: the row keeps the newer one, by recomputing the entity from its
// history.
func TestLateEventNeverOverwrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	newer, older := customerObj(t, "cus_1"), customerObj(t, "cus_1")
	newer["name"], older["name"] = "Newer", "Older"
	b.append(t, event(t, "evt_new", "customer.edited", at(10), map[string]any{"customer": newer}))
	b.drain(t, 100)
	b.append(t, event(t, "evt_old", "customer.edited", at(5), map[string]any{"customer": older}))
	b.drain(t, 100)
	if row := b.row(t, "customers", "cus_1"); row["name"] != "Newer" || row[colLastEventID] != "evt_new" {
		t.Errorf("late event overwrote: name %v last %v", row["name"], row[colLastEventID])
	}
}

// TestSameTimestampBurstsResolveBySeq: events with one created_at are
// ordered by log position, the same in one batch or many.
func TestSameTimestampBurstsResolveBySeq(t *testing.T) {
	t.Parallel()
	named := func(id, name string) eventlog.Event {
		c := customerObj(t, "cus_1")
		c["name"] = name
		return event(t, id, "customer.edited", at(1), map[string]any{"customer": c})
	}
	for _, tc := range []struct {
		order []string
		want  string
	}{{[]string{"A", "B", "C"}, "C"}, {[]string{"C", "A", "B"}, "B"}} {
		for _, size := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/batch=%d", strings.Join(tc.order, ""), size), func(t *testing.T) {
				t.Parallel()
				b := setup(t)
				for _, n := range tc.order {
					b.append(t, named("evt_"+n, n))
				}
				b.drain(t, size)
				if row := b.row(t, "customers", "cus_1"); row["name"] != tc.want {
					t.Errorf("name %v, want %v (the last appended)", row["name"], tc.want)
				}
			})
		}
	}
}

// history is a random but reproducible mix of every shape over a few
// entities, each event with its own created_at.
func history(t *testing.T, seed uint64, n int) []eventlog.Event {
	r := rand.New(rand.NewPCG(seed, seed))
	times := r.Perm(n)
	burstAt := n + 10
	balances := map[string]int{}
	var events []eventlog.Event
	for i := range n {
		cus, sub, inv := fmt.Sprintf("cus_%d", r.IntN(3)), fmt.Sprintf("sub_%d", r.IntN(3)), fmt.Sprintf("inv_%d", r.IntN(3))
		plan := fmt.Sprintf("plan_%d", r.IntN(2))
		id, when := fmt.Sprintf("evt_%03d", i), at(times[i])
		var e eventlog.Event
		switch k := r.IntN(21); k {
		case 0, 1:
			c := customerObj(t, cus)
			c["name"], c["balance"] = fmt.Sprintf("name %d", i), fmt.Sprintf("%d.50", i)
			e = event(t, id, customerTypes[r.IntN(len(customerTypes))], when, map[string]any{"customer": c,
				"properties": map[string]any{"balance_transaction": map[string]any{"id": "cbt_" + id, "amount": "1.00"},
					"alert_configuration": map[string]any{"id": "a"}, "balance_threshold": "3"}})
		case 2, 3:
			s := subscriptionObj(t, sub, cus, plan)
			s["name"], s["net_terms"] = fmt.Sprintf("sub name %d", i), i
			s["plan"].(map[string]any)["description"] = fmt.Sprintf("plan description %d", i)
			s["plan"].(map[string]any)["version"] = 1 + r.IntN(3) // Subscriptions on several versions of a plan.
			e = event(t, id, subscriptionTypes[r.IntN(len(subscriptionTypes))], when, map[string]any{"subscription": s, "properties": alertProperties()})
		case 4:
			e = event(t, id, "subscription.edited", when, map[string]any{"subscription": map[string]any{
				"id": sub, "status": fmt.Sprintf("status %d", i), "customer": map[string]any{"id": cus}}})
		case 5:
			inv := invoiceObj(t, inv, cus, sub)
			inv["memo"] = fmt.Sprintf("memo %d", i)
			e = event(t, id, invoiceTypes[r.IntN(len(invoiceTypes))], when, map[string]any{"invoice": inv})
		case 6:
			summary := invoiceObj(t, inv, cus, sub)
			delete(summary, "line_items")
			summary["status"] = fmt.Sprintf("status %d", i)
			e = event(t, id, "invoice.payment_succeeded", when, map[string]any{"invoice": summary})
		case 7:
			e = event(t, id, "invoice.invoice_date_elapsed", when, map[string]any{"invoice": map[string]any{"id": inv,
				"invoice_number": fmt.Sprintf("N-%d", i), "status": "issued", "customer": map[string]any{"id": cus}}})
		case 8:
			e = event(t, id, "invoice.automation_schedule_step_executed", when, map[string]any{"invoice": automationInvoice(inv, fmt.Sprintf("%d.00", i))})
		case 9:
			v := 1 + r.IntN(3)
			e = event(t, id, planTypes[r.IntN(len(planTypes))], when, map[string]any{"plan": map[string]any{"id": plan, "name": fmt.Sprintf("plan %d", i)},
				"properties": map[string]any{"new_default_version_number": v, "plan_version_number": v}})
		case 10:
			e = event(t, id, "subscription.usage_exceeded", when, map[string]any{"subscription": lightSubscription(sub, cus, plan),
				"properties": alertProperties()})
		case 12:
			// Same-second balance bursts, one per customer, in a chain.
			n := balances[cus]
			balances[cus] = n + 1
			c := customerObj(t, cus)
			c["balance"] = "0.00"
			e = event(t, id, balanceTransactionType, at(burstAt+len(cus)+int(cus[len(cus)-1])), map[string]any{"customer": c,
				"properties": map[string]any{"balance_transaction": map[string]any{"id": "cbt_" + id, "amount": "1.00",
					"starting_balance": fmt.Sprintf("%d.00", n), "ending_balance": fmt.Sprintf("%d.00", n+1)}}})
		case 13:
			e = event(t, id, "subscription.plan_changed", when, map[string]any{"subscription": summarySubscription(sub, cus, plan),
				"properties": map[string]any{"previous_plan_id": "plan_x"}})
		case 14:
			e = event(t, id, lightweightSubscriptionTypes[r.IntN(len(lightweightSubscriptionTypes))], when, map[string]any{
				"subscription": lightSubscription(sub, cus, plan), "properties": alertProperties()})
		case 16:
			m := metricObj(fmt.Sprintf("bm_%d", r.IntN(2)))
			m["name"] = fmt.Sprintf("metric %d", i)
			e = event(t, id, []string{"billable_metric.edited", "snapshot.billable_metric"}[r.IntN(2)], when, map[string]any{"billable_metric": m})
		case 17:
			switch r.IntN(3) {
			case 0:
				it := itemObj(fmt.Sprintf("item_%d", r.IntN(2)))
				it["name"] = fmt.Sprintf("item %d", i)
				e = event(t, id, "snapshot.item", when, map[string]any{"item": it})
			case 1:
				c := couponObj(fmt.Sprintf("cpn_%d", r.IntN(2)))
				c["times_redeemed"] = json.Number(fmt.Sprintf("%d.0", i)) // An integral number spelled as a fraction.
				e = event(t, id, "snapshot.coupon", when, map[string]any{"coupon": c})
			default:
				// An add-on price, or one every full subscription's plan
				// and price intervals carry too.
				p := priceObj(t, []string{"price_0", fixturePrice}[r.IntN(2)])
				p["name"] = fmt.Sprintf("price %d", i)
				e = event(t, id, []string{"snapshot.price", "price.edited"}[r.IntN(2)], when, map[string]any{"price": p})
			}
		case 18:
			pm := paymentMethodObj(fmt.Sprintf("pm_%d", r.IntN(3)), cus, r.IntN(2) == 0)
			e = event(t, id, paymentMethodTypes[r.IntN(2)], when, map[string]any{"payment_method": pm})
		case 19:
			blk := blockObj(fmt.Sprintf("blk_%d", r.IntN(2)))
			blk["balance"] = fmt.Sprintf("%d.00", i)
			if r.IntN(2) == 0 {
				e = event(t, id, "customer.credit_ledger_incremented", when, map[string]any{"customer": customerObj(t, cus),
					"properties": map[string]any{"block": blk}})
			} else {
				e = event(t, id, "credit_block.accounting_sync_failed", when, map[string]any{"block": blk,
					"accounting_sync_record": syncRecord(cus, "block"),
					"properties":             map[string]any{"connection_type": "netsuite", "failure_reason": fmt.Sprintf("reason %d", i)}})
			}
		case 20:
			typ := []string{"invoice.accounting_sync_failed", "invoice.accounting_sync_succeeded"}[r.IntN(2)]
			e = event(t, id, typ, when, map[string]any{"invoice": invoiceObj(t, inv, cus, sub),
				"accounting_sync_record": syncRecord(cus, "invoice"),
				"properties":             map[string]any{"connection_type": "netsuite", "failure_reason": fmt.Sprintf("reason %d", i)}})
		case 15:
			e = event(t, id, planTypes[r.IntN(len(planTypes))], when, map[string]any{"plan": map[string]any{
				"external_plan_id": "ext_" + plan, "name": fmt.Sprintf("by alias %d", i)},
				"properties": map[string]any{"new_default_version_number": 2, "plan_version_number": 2}})
		default:
			cn := creditNoteObj(fmt.Sprintf("cn_%d", r.IntN(2)), cus, inv)
			cn["memo"] = fmt.Sprintf("cn memo %d", i)
			e = event(t, id, "credit_note.issued", when, map[string]any{"credit_note": cn})
		}
		events = append(events, e)
	}
	return events
}

// appendInChunks appends events in chunks of chunk, draining with
// batchSize after each, so later chunks fold onto stored rows and older
// events arrive after newer ones were applied.
func (b *testBundle) appendInChunks(t *testing.T, events []eventlog.Event, chunk, batchSize int) {
	t.Helper()
	for i := 0; i < len(events); i += chunk {
		b.append(t, events[i:min(i+chunk, len(events))]...)
		b.drain(t, batchSize)
	}
}

// TestShuffledDeliveryGivesSameTables delivers one history in created_at
// order and in shuffled orders, in different chunkings and batch sizes, and
// rebuilds it in one pass: every table must come out identical, column for
// column.
func TestShuffledDeliveryGivesSameTables(t *testing.T) {
	t.Parallel()
	events := history(t, 42, 160)
	inOrder := slices.Clone(events)
	slices.SortFunc(inOrder, func(a, b eventlog.Event) int { return a.CreatedAt.Compare(b.CreatedAt) })
	want := setup(t)
	want.appendInChunks(t, inOrder, len(inOrder), 1000)
	for _, p := range catalog {
		if want.count(t, p.Table) == 0 {
			t.Errorf("the history leaves %s empty: it tests nothing there", p.Table)
		}
	}
	for _, run := range []struct {
		seed         uint64
		chunk, batch int
	}{{1, 7, 3}, {2, 30, 1000}, {3, 1, 1}} {
		t.Run(fmt.Sprintf("seed=%d/chunk=%d/batch=%d", run.seed, run.chunk, run.batch), func(t *testing.T) {
			t.Parallel()
			shuffled := slices.Clone(events)
			rand.New(rand.NewPCG(run.seed, 0)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			got := setup(t)
			got.appendInChunks(t, shuffled, run.chunk, run.batch)
			got.checkSameTables(t, want)
			got.checkRebuildMatches(t)
			got.checkHistoryMatchesCurrent(t)
		})
	}
}

// checkSameTables compares every table with want's, a fold of the same
// events delivered otherwise: the current tables column for column but
// for log positions, the histories by what as-of can see.
func (b *testBundle) checkSameTables(t *testing.T, want *testBundle) {
	t.Helper()
	for _, p := range catalog {
		if p.History {
			sameRows(t, p.Table, b.visibleVersions(t, p.Table), want.visibleVersions(t, p.Table))
			continue
		}
		leaveOut := []string{colLastEventSeq}
		if p.Table == "customers" {
			// Same-second balance bursts: which event of a tie wrote
			// the row last follows delivery (log position); what it
			// holds, the balance included, must not.
			leaveOut = append(leaveOut, colLastEventID)
		}
		sameRows(t, p.Table, b.rows(t, p.Table, leaveOut...), want.rows(t, p.Table, leaveOut...))
	}
}

// checkRebuildMatches rebuilds every projection into a shadow table in one
// Apply over the whole log, as a re-projection would, and compares it with
// the live table.
func (b *testBundle) checkRebuildMatches(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	head, err := readHead(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range catalog {
		shadow := p.Table + "_next"
		live, next := pgx.Identifier{b.schema.Name, p.Table}.Sanitize(), pgx.Identifier{b.schema.Name, shadow}.Sanitize()
		tx, err := b.schema.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s (like %s including all)", next, live)); err != nil {
			t.Fatal(err)
		}
		target, err := fold.Compile(ctx, tx, b.schema.Name, p.Name, shadow)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := target.Apply(ctx, tx, 0, head); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		rebuilt := b.rowsOf(t, shadow, p)
		sameRows(t, p.Table+" rebuilt", rebuilt, b.rows(t, p.Table))
	}
}

// rowsOf is rows for a table that is not a projection's own.
func (b *testBundle) rowsOf(t *testing.T, table string, p Projection) map[string]map[string]any {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), fmt.Sprintf("select %s, to_jsonb(r) from %s r",
		rowKey(p), pgx.Identifier{b.schema.Name, table}.Sanitize()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for rows.Next() {
		var k string
		var row map[string]any
		if err := rows.Scan(&k, &row); err != nil {
			t.Fatal(err)
		}
		out[k] = row
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
