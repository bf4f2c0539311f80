package projector

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Tests for the tables of objects that used to stay in the log only.

func TestPaymentMethodsAndTheCustomersDefault(t *testing.T) {
	t.Parallel()
	events := []eventlog.Event{
		event(t, "evt_cus", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}),
		event(t, "evt_pm1", "payment_method.created", at(2), map[string]any{"payment_method": paymentMethodObj("pm_1", "cus_1", true)}),
		event(t, "evt_pm2", "payment_method.created", at(3), map[string]any{"payment_method": paymentMethodObj("pm_2", "cus_1", false)}),
	}
	b := shapeRun(t, "payment_methods", bothBatchings, events...)
	if pm := b.customerDefault(t); pm != "pm_1" {
		t.Errorf("default payment method %v, want pm_1", pm)
	}
	deleted := event(t, "evt_del", "payment_method.deleted", at(4), map[string]any{"payment_method": paymentMethodObj("pm_1", "cus_1", true)})
	b = shapeRun(t, "payment_methods", bothBatchings, append(events, deleted)...)
	row := b.row(t, "payment_methods", "pm_1")
	if row["deleted_at"] != at(4).Format("2006-01-02T15:04:05+00:00") || row["customer_id"] != "cus_1" || row["default"] != true {
		t.Errorf("deleted payment method row = %v", row)
	}
	if b.row(t, "payment_methods", "pm_2")["deleted_at"] != nil {
		t.Error("pm_2 marked deleted")
	}
	if pm := b.customerDefault(t); pm != nil {
		t.Errorf("default payment method %v after deleting it, want none", pm)
	}
}

func (b *testBundle) customerDefault(t *testing.T) any {
	t.Helper()
	pm, _ := b.row(t, "customers", "cus_1")["default_payment_method"].(map[string]any)
	if pm == nil {
		return nil
	}
	return pm["id"]
}

func TestAccountingSyncStatusPerObject(t *testing.T) {
	t.Parallel()
	failed := event(t, "evt_fail", "invoice.accounting_sync_failed", at(1), map[string]any{
		"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1"), "accounting_sync_record": syncRecord("cus_1", "invoice"),
		"properties": map[string]any{"connection_type": "netsuite", "failure_reason": "no such account"}})
	succeeded := event(t, "evt_ok", "invoice.accounting_sync_succeeded", at(2), map[string]any{
		"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1"), "accounting_sync_record": syncRecord("cus_1", "invoice"),
		"properties": map[string]any{"connection_type": "netsuite"}})
	b := shapeRun(t, "accounting_sync", bothBatchings, failed)
	row := b.row(t, "accounting_sync", "inv_1")
	if row["status"] != "failed" || row["failure_reason"] != "no such account" || row["provider"] != "netsuite" ||
		row["object_type"] != "invoice" || row["customer_id"] != "cus_1" {
		t.Errorf("failed sync row = %v", row)
	}
	b = shapeRun(t, "accounting_sync", bothBatchings, succeeded, failed) // The failure arrives late.
	row = b.row(t, "accounting_sync", "inv_1")
	if row["status"] != "succeeded" || row["failure_reason"] != nil || row["last_event_type"] != "invoice.accounting_sync_succeeded" {
		t.Errorf("succeeded sync row = %v", row)
	}
}

func TestCreditBlocksFromBlocksAndLedgerEntries(t *testing.T) {
	t.Parallel()
	spent := blockObj("blk_1")
	spent["balance"] = "40.00"
	b := shapeRun(t, "credit_blocks", bothBatchings,
		event(t, "evt_ledger", "customer.credit_ledger_incremented", at(1), map[string]any{"customer": customerObj(t, "cus_1"),
			"properties": map[string]any{"block": blockObj("blk_1"), "pricing_unit": map[string]any{"id": "pu_1", "name": "credits"}}}),
		event(t, "evt_sync", "credit_block.accounting_sync_succeeded", at(2), map[string]any{"block": spent,
			"accounting_sync_record": syncRecord("cus_1", "block"), "properties": map[string]any{"connection_type": "netsuite"}}),
	)
	row := b.row(t, "credit_blocks", "blk_1")
	if row["balance"] != 40.0 || row["customer_id"] != "cus_1" || row["status"] != "active" || row["per_unit_cost_basis"] != 0.5 {
		t.Errorf("credit block row = %v", row)
	}
	if s := b.row(t, "accounting_sync", "blk_1"); s["object_type"] != "credit_block" || s["status"] != "succeeded" {
		t.Errorf("accounting sync row = %v", s)
	}
	if c := b.row(t, "customers", "cus_1"); c["email"] == nil {
		t.Error("ledger event's customer not projected")
	}
}

func TestItemsCouponsPrices(t *testing.T) {
	t.Parallel()
	price := priceObj(t, "price_1")
	price["external_price_id"] = "ext_price_1"
	edited := priceObj(t, "price_1")
	edited["external_price_id"] = "ext_price_1"
	edited["metadata"] = map[string]any{"tier": "gold"}
	b := setup(t)
	b.append(t,
		event(t, "evt_item", "snapshot.item", at(1), map[string]any{"item": itemObj("item_1")}),
		event(t, "evt_coupon", "snapshot.coupon", at(1), map[string]any{"coupon": couponObj("cpn_1")}),
		event(t, "evt_price", "snapshot.price", at(1), map[string]any{"price": price}),
		event(t, "evt_edit", "price.edited", at(2), map[string]any{"price": edited,
			"properties": map[string]any{"previous_attributes": map[string]any{"metadata": map[string]any{}}}}),
		event(t, "evt_metric", "snapshot.billable_metric", at(1), map[string]any{"billable_metric": metricObj("bm_1")}),
	)
	b.drain(t, 100)
	if row := b.row(t, "items", "item_1"); row["name"] != "API calls" || row["external_connections"] == nil {
		t.Errorf("item row = %v", row)
	}
	if row := b.row(t, "coupons", "cpn_1"); row["archived_at"] == nil || row["times_redeemed"] != 7.0 || row["redemption_code"] != "SAVE10" {
		t.Errorf("coupon row = %v", row)
	}
	row := b.row(t, "prices", "price_1")
	config, _ := row["model_config"].(map[string]any)
	meta, _ := row["metadata"].(map[string]any)
	if row["model_type"] != "unit" || config["unit_amount"] == nil || row["item_id"] == nil || row["billable_metric_id"] == nil ||
		row["external_price_id"] != "ext_price_1" || meta["tier"] != "gold" {
		t.Errorf("price row = %v", row)
	}
	if row := b.row(t, "billable_metrics", "bm_1"); row["item_id"] != "item_1" {
		t.Errorf("billable metric item_id %v", row["item_id"])
	}
}

func TestAlertDisabledIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, event(t, "evt_off", "subscription.alert_disabled", at(1), map[string]any{
		"subscription": lightSubscription("sub_1", "cus_1", "plan_1"),
		"properties": map[string]any{"alert_configuration": map[string]any{"id": "alert_1", "type": "usage_exceeded", "enabled": false},
			"reason": "system_cardinality_limit", "cardinality": 1200, "cardinality_limit": 1000}}))
	b.drain(t, 100)
	row := b.row(t, "subscription_alerts", "evt_off")
	if row["reason"] != "system_cardinality_limit" || row["cardinality"] != 1200.0 || row["cardinality_limit"] != 1000.0 ||
		row["alert_id"] != "alert_1" || row["subscription_id"] != "sub_1" {
		t.Errorf("alert_disabled row = %v", row)
	}
}

// TestIssue9ObjectsKeepHistory: the tables issue 9 added keep every
// version, and <table>_as_of answers for a time between two versions.
func TestIssue9ObjectsKeepHistory(t *testing.T) {
	t.Parallel()
	price := func(id, name string) map[string]any {
		p := priceObj(t, id)
		p["name"] = name
		return p
	}
	block := func(balance string) map[string]any {
		blk := blockObj("blk_1")
		blk["balance"] = balance
		return blk
	}
	b := shapeRun(t, "prices", bothBatchings,
		event(t, "evt_p1", "snapshot.price", at(1), map[string]any{"price": price("price_1", "Seats")}),
		// Delivered late: placed by its created_at, between the other two.
		event(t, "evt_p3", "price.edited", at(5), map[string]any{"price": price("price_1", "Seats (annual)")}),
		event(t, "evt_p2", "price.edited", at(3), map[string]any{"price": price("price_1", "Seats (monthly)")}),
		event(t, "evt_b1", "customer.credit_ledger_incremented", at(1), map[string]any{"customer": customerObj(t, "cus_1"),
			"properties": map[string]any{"block": block("10.00")}}),
		event(t, "evt_b2", "credit_block.accounting_sync_succeeded", at(4), map[string]any{"block": block("4.00"),
			"accounting_sync_record": syncRecord("cus_1", "block"), "properties": map[string]any{"connection_type": "netsuite"}}),
	)
	for _, c := range []struct {
		table, id, column string
		at                int
		want              any
	}{
		{"prices", "price_1", "name", 0, nil},
		{"prices", "price_1", "name", 2, "Seats"},
		{"prices", "price_1", "name", 4, "Seats (monthly)"},
		{"prices", "price_1", "name", 6, "Seats (annual)"},
		{"credit_blocks", "blk_1", "balance", 2, 10.0},
		{"credit_blocks", "blk_1", "balance", 4, 4.0},
	} {
		var got any
		err := b.schema.Pool.QueryRow(context.Background(), fmt.Sprintf("select (select to_jsonb(h) -> $3 from %s($1) h where h.id = $2)",
			pgx.Identifier{b.schema.Name, c.table + "_as_of"}.Sanitize()), at(c.at), c.id, c.column).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s_as_of(%d) %s = %v, want %v", c.table, c.at, c.column, got, c.want)
		}
	}
	b.checkHistoryMatchesCurrent(t)
}
