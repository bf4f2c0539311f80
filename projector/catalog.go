package projector

import "slices"

// The event types below come from Orb's event catalog (FACTS.md §2.2).
// Snapshot events (type "snapshot.<resource>", the object under the
// resource's key) are read from Orb's API by the backfill and are always
// full objects.

var customerTypes = []string{
	"customer.accounting_sync_failed",
	"customer.accounting_sync_succeeded",
	"customer.balance_transaction_created",
	"customer.created",
	"customer.credit_balance_depleted",
	"customer.credit_balance_dropped",
	"customer.credit_balance_recovered",
	"customer.credit_ledger_incremented",
	"customer.edited",
	"snapshot.customer",
}

// subscriptionTypes carry the full subscription (or, with summary webhooks
// on, a summary without price_intervals).
var subscriptionTypes = []string{
	"subscription.accounting_sync_failed",
	"subscription.accounting_sync_succeeded",
	"subscription.cancellation_scheduled",
	"subscription.cancellation_unscheduled",
	"subscription.cost_exceeded",
	"subscription.created",
	"subscription.edited",
	"subscription.ended",
	"subscription.fixed_fee_quantity_updated",
	"subscription.plan_change_scheduled",
	"subscription.plan_changed",
	"subscription.plan_version_change_scheduled",
	"subscription.plan_version_changed",
	"subscription.spend_exceeded",
	"subscription.started",
	"subscription.trial_ended",
	"subscription.usage_exceeded",
	"snapshot.subscription",
}

// invoiceTypes carry the full invoice (or a summary without line_items).
// sales_order.* carries its invoice under "invoice" too.
var invoiceTypes = []string{
	"invoice.accounting_sync_failed",
	"invoice.accounting_sync_succeeded",
	"invoice.dunning_schedule_created",
	"invoice.dunning_schedule_ended",
	"invoice.dunning_schedule_reset",
	"invoice.dunning_schedule_step_executed",
	"invoice.edited",
	"invoice.issue_failed",
	"invoice.issued",
	"invoice.issued_summary",
	"invoice.manually_marked_as_paid",
	"invoice.manually_marked_as_void",
	"invoice.payment_failed",
	"invoice.payment_processing",
	"invoice.payment_succeeded",
	"invoice.sync_failed",
	"invoice.sync_succeeded",
	"invoice.undo_mark_as_paid",
	"sales_order.accounting_sync_failed",
	"sales_order.accounting_sync_succeeded",
	"snapshot.invoice",
}

// ignoredTypes are known event types no projection reads. Anything neither
// here nor read by a projection counts as unknown in the metrics.
var ignoredTypes = []string{
	"backfill.reflected",
	"backfill.reverted",
	"credit_block.accounting_sync_failed",
	"credit_block.accounting_sync_succeeded",
	"data_exports.transfer_error",
	"data_exports.transfer_success",
	"event.unmatched_event",
	"ingestion.unmatched_customer_ids",
	"invoice.cost_data_exported", // The invoice is a bare id: nothing to project.
	"invoice_due_date_recalculation.canceled",
	"invoice_due_date_recalculation.completed",
	"invoice_due_date_recalculation.started",
	"metric.events_dropped_by_watermark",
	"payment_method.created",
	"payment_method.deleted",
	"price.edited",
	"resource_event.test",
	"snapshot.coupon",
	"snapshot.item",
	"snapshot.price",
	"subscription.alert_disabled",
	"subscription.license_allocation_reset",
	"transaction.accounting_sync_failed",
	"transaction.accounting_sync_succeeded",
}

// subscriptionAlertTypes carry a full or a lightweight subscription
// ({id, customer, plan, dates, status}); the alert table takes only its ids.
var subscriptionAlertTypes = []string{
	"subscription.cost_exceeded",
	"subscription.grouped_cost_exceeded",
	"subscription.invoicing_threshold_exceeded",
	"subscription.license_balance_threshold_reached",
	"subscription.spend_exceeded",
	"subscription.usage_exceeded",
}

var customerCreditAlertTypes = []string{
	"customer.credit_balance_depleted",
	"customer.credit_balance_dropped",
	"customer.credit_balance_recovered",
}

// catalog is every projection, in apply order: the current-state tables,
// then the history of those listed in versioned (history.go). Change a
// projection's Version whenever its rows would come out differently from
// the same log.
var catalog = withHistory([]Projection{
	{
		Name: "customers", Table: "customers", Key: "id", Version: 2,
		Sources: []Source{
			{Types: customerTypes, Object: `e.payload -> 'customer'`, Shape: Full},
			// The backfill's marker for a customer gone from Orb's listing:
			// recorded, never a delete; a newer full object clears it.
			{Types: []string{"reconcile.missing"}, Object: `e.payload -> 'customer'`, Shape: Partial,
				Allow: []string{"missing_from_api_at"}, Extra: `jsonb_build_object('missing_from_api_at', e.created_at)`},
		},
	},
	{
		Name: "subscriptions", Table: "subscriptions", Key: "id", Version: 1,
		Sources: []Source{
			// A summary subscription's customer and plan may be cut down
			// too; keep the full ones from the last full payload.
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription'`, Shape: Summary,
				FullKey: "price_intervals", Omit: []string{"customer", "plan"}},
		},
	},
	{
		Name: "invoices", Table: "invoices", Key: "id", Version: 1,
		Sources: []Source{
			{Types: invoiceTypes, Object: `e.payload -> 'invoice'`, Shape: Summary, FullKey: "line_items"},
			// Minified invoice {id, customer, invoice_number, status,
			// subscription}: its status is news, the rest is identity.
			{Types: []string{"invoice.invoice_date_elapsed"}, Object: `e.payload -> 'invoice'`, Shape: Partial,
				Allow: []string{"status", "invoice_number", "customer", "subscription"}},
			// A different, flat invoice shape; take the fields that mean the
			// same as the full invoice's (not customer_id and friends, which
			// the full invoice nests).
			{Types: []string{"invoice.automation_schedule_step_executed"}, Object: `e.payload -> 'invoice'`, Shape: Partial,
				Allow: []string{"amount_due", "currency", "due_date", "hosted_invoice_url", "invoice_date",
					"invoice_number", "issued_at", "memo", "status"}},
		},
	},
	{
		Name: "credit_notes", Table: "credit_notes", Key: "id", Version: 1,
		Sources: []Source{
			{Types: []string{
				"credit_note.accounting_sync_failed",
				"credit_note.accounting_sync_succeeded",
				"credit_note.issued",
				"credit_note.marked_as_void",
				"snapshot.credit_note",
			}, Object: `e.payload -> 'credit_note'`, Shape: Full},
		},
	},
	{
		Name: "plans", Table: "plans", Key: "id", Version: 1,
		Sources: []Source{
			// Every full subscription embeds its full plan; a plan without
			// prices (summary payloads) only renames.
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription' -> 'plan'`, IDKey: "id",
				Shape: Summary, FullKey: "prices", Allow: []string{"name", "external_plan_id"}},
			{Types: []string{"snapshot.plan"}, Object: `e.payload -> 'plan'`, Shape: Full},
			// plan.* webhooks carry {id?, external_plan_id?, name?} only.
			{Types: []string{"plan.default_version_set", "plan.version_created"}, Object: `e.payload -> 'plan'`,
				Shape: Partial, Allow: []string{"name", "external_plan_id"}},
		},
	},
	{
		Name: "billable_metrics", Table: "billable_metrics", Key: "id", Version: 1,
		Sources: []Source{
			// billable_metric.edited has been seen without an id: the log
			// stores no resource id for it, and it is skipped.
			{Types: []string{"billable_metric.edited", "snapshot.billable_metric"},
				Object: `e.payload -> 'billable_metric'`, Shape: Full},
		},
	},
	{
		Name: "customer_balance_transactions", Table: "customer_balance_transactions", Key: "id", Version: 1,
		Sources: []Source{
			{Types: []string{"customer.balance_transaction_created"},
				Object: `e.payload -> 'properties' -> 'balance_transaction'`, IDKey: "id", Shape: Full,
				Extra: `jsonb_build_object('customer_id', e.payload -> 'customer' -> 'id',
				'external_customer_id', e.payload -> 'customer' -> 'external_customer_id')`},
		},
	},
	{
		Name: "subscription_alerts", Table: "subscription_alerts", Key: "event_id", Version: 1,
		Sources: []Source{
			{Types: subscriptionAlertTypes, Object: `e.payload -> 'properties'`, IDColumn: IDEvent, Shape: Full,
				Extra: `(select jsonb_build_object('event_id', e.event_id, 'type', e.type, 'created_at', e.created_at,
				'subscription_id', s -> 'id', 'customer_id', s -> 'customer' -> 'id',
				'external_customer_id', s -> 'customer' -> 'external_customer_id', 'plan_id', s -> 'plan' -> 'id')
				from (select e.payload -> 'subscription' as s offset 0) sub)`},
		},
	},
	{
		Name: "customer_credit_alerts", Table: "customer_credit_alerts", Key: "event_id", Version: 1,
		Sources: []Source{
			{Types: customerCreditAlertTypes, Object: `e.payload -> 'properties'`, IDColumn: IDEvent, Shape: Full,
				Extra: `(select jsonb_build_object('event_id', e.event_id, 'type', e.type, 'created_at', e.created_at,
				'customer_id', c -> 'id', 'external_customer_id', c -> 'external_customer_id')
				from (select e.payload -> 'customer' as c offset 0) cus)`},
		},
	},
})

// Projections returns the projections this binary maintains, in apply
// order. The result is a copy.
func Projections() []Projection {
	out := make([]Projection, len(catalog))
	for i, p := range catalog {
		p.Sources = slices.Clone(p.Sources)
		out[i] = p
	}
	return out
}

// projectionByName finds a projection in the catalog.
func projectionByName(name string) (Projection, bool) {
	for _, p := range catalog {
		if p.Name == name {
			return p, true
		}
	}
	return Projection{}, false
}

// knownTypes is every event type the catalog reads or knowingly ignores.
func knownTypes() map[string]bool {
	known := map[string]bool{}
	for _, p := range catalog {
		for _, t := range p.Types() {
			known[t] = true
		}
	}
	for _, t := range ignoredTypes {
		known[t] = true
	}
	return known
}
