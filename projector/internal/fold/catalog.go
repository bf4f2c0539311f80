package fold

import "slices"

// The event types below come from Orb's event catalog (FACTS.md §2.2).
// Snapshot events (type "snapshot.<resource>", the object under the
// resource's key) are read from Orb's API by the backfill and are always
// full objects.

var customerTypes = []string{
	"customer.accounting_sync_failed",
	"customer.accounting_sync_succeeded",
	"customer.created",
	"customer.credit_balance_depleted",
	"customer.credit_balance_dropped",
	"customer.credit_balance_recovered",
	"customer.credit_ledger_incremented",
	"customer.edited",
	"snapshot.customer",
}

// balanceTransactionType carries the full customer and, in properties,
// the transaction that changed its balance.
const balanceTransactionType = "customer.balance_transaction_created"

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
	"data_exports.transfer_error",
	"data_exports.transfer_success",
	"event.unmatched_event",
	"ingestion.unmatched_customer_ids",
	"invoice.cost_data_exported", // The invoice is a bare id: nothing to project.
	"invoice_due_date_recalculation.canceled",
	"invoice_due_date_recalculation.completed",
	"invoice_due_date_recalculation.started",
	"metric.events_dropped_by_watermark",
	"resource_event.test",
}

// accountingSyncTypes report whether an object reached the accounting
// provider; each carries accounting_sync_record and the object.
var accountingSyncTypes = []string{
	"credit_block.accounting_sync_failed",
	"credit_block.accounting_sync_succeeded",
	"credit_note.accounting_sync_failed",
	"credit_note.accounting_sync_succeeded",
	"customer.accounting_sync_failed",
	"customer.accounting_sync_succeeded",
	"invoice.accounting_sync_failed",
	"invoice.accounting_sync_succeeded",
	"sales_order.accounting_sync_failed",
	"sales_order.accounting_sync_succeeded",
	"subscription.accounting_sync_failed",
	"subscription.accounting_sync_succeeded",
	"transaction.accounting_sync_failed",
	"transaction.accounting_sync_succeeded",
}

// subscriptionAlertTypes carry a full or a lightweight subscription
// ({id, customer, plan, dates, status}); the alert table takes only its ids.
// lightweightSubscriptionTypes always carry the lightweight subscription
// {id, customer {id, external_customer_id}, start_date, end_date, plan
// {id, external_plan_id, name}, status}.
var lightweightSubscriptionTypes = []string{
	"subscription.alert_disabled",
	"subscription.grouped_cost_exceeded",
	"subscription.invoicing_threshold_exceeded",
	"subscription.license_allocation_reset",
	"subscription.license_balance_threshold_reached",
}

var subscriptionAlertTypes = []string{
	"subscription.alert_disabled",
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

var planTypes = []string{"plan.default_version_set", "plan.version_created"}

// planVersion is a plan object's version, as a key: only a full plan (one
// with prices) names its version's content.
const planVersion = `case when {{obj}} ? 'prices' then {{obj}} ->> 'version' end`

// planByAlias resolves a plan named only by its external_plan_id through
// the plans table, as it is when the event is folded (an alias not known
// yet leaves the event in dead_letters, where a retry resolves it later).
const planByAlias = `(select p.id from {{schema}}.plans p
	where p.external_plan_id = ({{obj}}) ->> 'external_plan_id' order by p.id limit 1)`

// subscriptionJoinKeys are a subscription's join keys, from any shape
// that names them.
const subscriptionJoinKeys = `jsonb_strip_nulls(jsonb_build_object('customer_id', x.o #> '{customer,id}',
	'external_customer_id', x.o #> '{customer,external_customer_id}', 'plan_id', x.o #> '{plan,id}'))`

// chainedBalance is a customer's balance when its newest event is a
// balance transaction: Orb sends bursts of them with one created_at and
// customers whose balance may be stale, so the balance is the ending
// balance of the transaction at that time that no other one continues
// (whose ending_balance is no other's starting_balance). Without a
// single such end (a cycle, equal balances) it stays the newest event's
// transaction's. Only events up to the fold's end ($2) count, so a
// rebuild computes what the live projection did.
const chainedBalance = `case when exists (
	select from {{events}} h where h.seq = f.last_seq and h.type = 'customer.balance_transaction_created')
then coalesce((
	select min((x.t ->> 'ending_balance')::numeric)
	from {{events}} e cross join lateral (select e.payload #> '{properties,balance_transaction}' as t offset 0) x
	where e.type = 'customer.balance_transaction_created' and e.created_at = f.last_at
	  and e.resource_id = f.entity and e.seq <= $2
	  and not exists (
		select from {{events}} n
		where n.type = 'customer.balance_transaction_created' and n.created_at = f.last_at
		  and n.resource_id = f.entity and n.seq <= $2 and n.seq <> e.seq
		  and (n.payload -> 'properties' -> 'balance_transaction' ->> 'starting_balance')::numeric
		      = (x.t ->> 'ending_balance')::numeric)
	having count(*) = 1), r.balance)
else r.balance end`

// catalog is every projection, in apply order: the current-state tables,
// then the history of those listed in versioned (history.go). Change a
// projection's Version whenever its rows would come out differently from
// the same log. (customers 5, plans 4, plan_versions 2, prices 4,
// credit_blocks 2, customer_balance_transactions 2: an id taken from an
// object (IDKey) names an entity only if it is a non-empty JSON string;
// see stringID. Then one more for every projection with a source that is
// not Embedded, but customer_balance_transactions (whose IDKey already
// named no entity for such events): an event whose object is not a JSON
// object is set aside rather than folded; see objectOnly.)
var catalog = withHistory(append([]Projection{
	{
		Name: "customers", Table: "customers", Key: "id", Version: 6,
		Sources: []Source{
			{Types: customerTypes, Object: `e.payload -> 'customer'`, Shape: Full},
			// The customer's balance is the transaction's ending balance:
			// the embedded customer of a same-second burst can be stale.
			{Types: []string{balanceTransactionType}, Object: `e.payload -> 'customer'`, Shape: Full,
				Extra: `jsonb_strip_nulls(jsonb_build_object('balance', e.payload #> '{properties,balance_transaction,ending_balance}'))`},
			// Every full subscription payload embeds the whole customer; a
			// summary one may cut it down to {id, external_customer_id}.
			// A full one is the customer itself: its fingerprint is its key.
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription' -> 'customer'`, IDKey: "id", Embedded: true,
				Shape: Summary, FullKey: "email", Allow: []string{"external_customer_id"}, Refs: true,
				RepeatKey: embeddedRepeatKey},
			// The backfill's marker for a customer gone from Orb's listing:
			// recorded, never a delete; a newer full object clears it.
			{Types: []string{"reconcile.missing"}, Object: `e.payload -> 'customer'`, Shape: Partial,
				Allow: []string{"missing_from_api_at"}, Extra: `jsonb_build_object('missing_from_api_at', e.created_at)`},
			// A new default payment method, or the deletion of the
			// default one, changes the customer's default_payment_method.
			{Types: paymentMethodTypes, Object: `e.payload -> 'payment_method'`, IDKey: "customer_id",
				Shape: Partial, Allow: []string{"default_payment_method"}, Extra: defaultPaymentMethod},
		},
		// The balance reads the log only after a balance transaction.
		Derived: []Derived{{Column: "balance", SQL: chainedBalance, RowOnlyUnless: []string{balanceTransactionType}}},
	},
	{
		Name: "subscriptions", Table: "subscriptions", Key: "id", Version: 3,
		Sources: []Source{
			// A summary subscription's customer and plan may be cut down
			// too; keep the full ones from the last full payload, but move
			// the join keys (a plan change names the new plan).
			// Whether one is full is read from refs, which keep the
			// price_intervals key: probing the ~54 KB payload cost a detoast
			// per event on top of the one the fold reads it with.
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription'`, Shape: Summary,
				FullKey: "price_intervals", Omit: []string{"customer", "plan"}, Extra: subscriptionJoinKeys, Refs: true},
			{Types: lightweightSubscriptionTypes, Object: `e.payload -> 'subscription'`, Shape: Partial,
				Allow: []string{"start_date", "end_date", "status"}, Extra: subscriptionJoinKeys},
		},
		// A full subscription's join keys are its customer's and plan's ids
		// (a partial one's moved them, and they stay until the next full).
		Derived: []Derived{
			{Column: "customer_id", SQL: `coalesce(r.customer_id, r.customer ->> 'id')`, RowOnly: true},
			{Column: "external_customer_id", SQL: `coalesce(r.external_customer_id, r.customer ->> 'external_customer_id')`, RowOnly: true},
			{Column: "plan_id", SQL: `coalesce(r.plan_id, r.plan ->> 'id')`, RowOnly: true},
		},
	},
	{
		Name: "invoices", Table: "invoices", Key: "id", Version: 3,
		Sources: []Source{
			{Types: invoiceTypes, Object: `e.payload -> 'invoice'`, Shape: Summary, FullKey: "line_items"},
			// Minified invoice {id, customer, invoice_number, status,
			// subscription}: its status is news, the rest is identity; the
			// date that elapsed is in properties.
			{Types: []string{"invoice.invoice_date_elapsed"}, Object: `e.payload -> 'invoice'`, Shape: Partial,
				Allow: []string{"status", "invoice_number", "customer", "subscription"},
				Extra: `jsonb_strip_nulls(jsonb_build_object('invoice_date', e.payload #> '{properties,invoice_date}'))`},
			// A different, flat invoice shape; take the fields that mean the
			// same as the full invoice's, and its flat customer_id,
			// external_customer_id and subscription_id as the objects the
			// full invoice nests them in (so a first-seen invoice joins).
			{Types: []string{"invoice.automation_schedule_step_executed"}, Object: `e.payload -> 'invoice'`, Shape: Partial,
				Allow: []string{"amount_due", "currency", "due_date", "hosted_invoice_url", "invoice_date",
					"invoice_number", "issued_at", "memo", "status"},
				Extra: `jsonb_strip_nulls(jsonb_build_object(
				'customer', case when x.o ->> 'customer_id' is not null then jsonb_build_object('id', x.o -> 'customer_id',
					'external_customer_id', x.o -> 'external_customer_id') end,
				'subscription', case when x.o ->> 'subscription_id' is not null then jsonb_build_object('id', x.o -> 'subscription_id') end))`},
		},
	},
	{
		Name: "credit_notes", Table: "credit_notes", Key: "id", Version: 2,
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
		// A plan shows its default version (see Pin): subscriptions embed
		// the version each is on, so the newest embed would flap between
		// them. Every version is in plan_versions.
		Name: "plans", Table: "plans", Key: "id", Version: 5,
		Pin: &Pin{Key: "version", DefaultValue: `e.payload #> '{properties,new_default_version_number}'`,
			DefaultColumn: "default_version", LatestColumn: "latest_version"},
		Sources: []Source{
			// Every full subscription embeds its full plan; a plan without
			// prices (summary payloads) only renames.
			// A full one is the plan itself: its fingerprint is its key (its
			// version, which the pin reads, is the plan's own).
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription' -> 'plan'`, IDKey: "id", Embedded: true,
				Shape: Summary, FullKey: "prices", Allow: []string{"name", "external_plan_id"}, Versioned: true, Refs: true,
				RepeatKey: embeddedRepeatKey},
			{Types: []string{"snapshot.plan"}, Object: `e.payload -> 'plan'`, Shape: Full, Versioned: true},
			// plan.* webhooks carry {id?, external_plan_id?, name?} only;
			// one naming only its alias is resolved through plans.
			{Types: []string{"plan.default_version_set"}, Object: `e.payload -> 'plan'`, Resolve: planByAlias,
				Shape: Partial, Allow: []string{"name", "external_plan_id"}, SetsDefault: true},
			{Types: []string{"plan.version_created"}, Object: `e.payload -> 'plan'`, Resolve: planByAlias,
				Shape: Partial, Allow: []string{"name", "external_plan_id"}},
		},
	},
	{
		// Every version of every plan seen, keyed "<plan id>@<version>":
		// the full plans subscriptions and snapshots carry, and the version
		// plan.version_created announces (a row with its number until an
		// object of it is seen).
		Name: "plan_versions", Table: "plan_versions", Key: "version_key", Version: 2,
		Sources: []Source{
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription' -> 'plan'`, IDKey: "id", Embedded: true,
				IDSuffix: planVersion, Shape: Full, Refs: true,
				Extra: `jsonb_build_object('plan_id', x.o -> 'id')`},
			{Types: []string{"snapshot.plan"}, Object: `e.payload -> 'plan'`, Embedded: true,
				IDSuffix: planVersion, Shape: Full,
				Extra: `jsonb_build_object('plan_id', x.o -> 'id')`},
			{Types: []string{"plan.version_created"}, Object: `e.payload -> 'plan'`, Embedded: true,
				IDSuffix: `(e.payload -> 'properties' ->> 'plan_version_number')`, Shape: Partial,
				Allow: []string{"external_plan_id"},
				Extra: `jsonb_build_object('plan_id', e.resource_id, 'version', e.payload #> '{properties,plan_version_number}')`},
		},
	},
	{
		Name: "billable_metrics", Table: "billable_metrics", Key: "id", Version: 3,
		Sources: []Source{
			// billable_metric.edited has been seen without an id: the log
			// stores no resource id for it, and it is dead-lettered (the
			// API's refetch then brings the metrics).
			{Types: []string{"billable_metric.edited", "snapshot.billable_metric"},
				Object: `e.payload -> 'billable_metric'`, Shape: Full},
		},
	},
	{
		Name: "customer_balance_transactions", Table: "customer_balance_transactions", Key: "id", Version: 2,
		Sources: []Source{
			{Types: []string{"customer.balance_transaction_created"},
				Object: `e.payload -> 'properties' -> 'balance_transaction'`, IDKey: "id", Shape: Full,
				Extra: `jsonb_build_object('customer_id', e.payload #> '{customer,id}',
				'external_customer_id', e.payload #> '{customer,external_customer_id}')`},
		},
	},
	{
		Name: "subscription_alerts", Table: "subscription_alerts", Key: "event_id", Version: 3,
		Sources: []Source{
			{Types: subscriptionAlertTypes, Object: `e.payload -> 'properties'`, IDColumn: IDEvent, Shape: Full,
				Extra: `(select jsonb_build_object('event_id', e.event_id, 'type', e.type, 'created_at', e.created_at,
				'subscription_id', s -> 'id', 'customer_id', s #> '{customer,id}',
				'external_customer_id', s #> '{customer,external_customer_id}', 'plan_id', s #> '{plan,id}')
				from (select e.payload -> 'subscription' as s offset 0) sub)`},
		},
	},
	{
		Name: "customer_credit_alerts", Table: "customer_credit_alerts", Key: "event_id", Version: 2,
		Sources: []Source{
			{Types: customerCreditAlertTypes, Object: `e.payload -> 'properties'`, IDColumn: IDEvent, Shape: Full,
				Extra: `(select jsonb_build_object('event_id', e.event_id, 'type', e.type, 'created_at', e.created_at,
				'customer_id', c -> 'id', 'external_customer_id', c -> 'external_customer_id')
				from (select e.payload -> 'customer' as c offset 0) cus)`},
		},
	},
}, moreObjects...))

// moreObjects are the tables added for the objects the first projections
// left in the log only.
var moreObjects = []Projection{
	{
		Name: "items", Table: "items", Key: "id", Version: 2,
		Sources: []Source{{Types: []string{"snapshot.item"}, Object: `e.payload -> 'item'`, Shape: Full}},
	},
	{
		Name: "coupons", Table: "coupons", Key: "id", Version: 2,
		Sources: []Source{{Types: []string{"snapshot.coupon"}, Object: `e.payload -> 'coupon'`, Shape: Full}},
	},
	{
		// Every full price Orb sends: alone, and inside the full plans
		// subscriptions and snapshots carry and a subscription's price
		// intervals. A price that came inside a plan has its plan_id.
		Name: "prices", Table: "prices", Key: "id", Version: 5,
		Sources: []Source{
			// price.edited carries the whole price but not its plan: it is
			// merged over the newest full copy, so plan_id stays.
			{Types: []string{"price.edited"}, Object: `e.payload -> 'price'`, Shape: Partial, Omit: []string{"plan_id"},
				Extra: priceModelConfig},
			// The API lists add-on prices only (never a plan's).
			{Types: []string{"snapshot.price"}, Object: `e.payload -> 'price'`, Shape: Full, Extra: priceModelConfig},
			// The plan id by one path (#>): a chain of -> copies each
			// level, the ~54 KB subscription once per price.
			// A repeat is the same price in the same plan (see
			// planPriceRepeatKey).
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription'`, Each: "$.plan.prices[*]",
				IDKey: "id", Embedded: true, Shape: Full, Refs: true,
				Extra:     priceModelConfig + ` || jsonb_build_object('plan_id', e.payload #> '{subscription,plan,id}')`,
				RepeatKey: planPriceRepeatKey},
			// Add-on prices: those of the plan come with their plan above.
			// Refs always build the price intervals' list.
			{Types: subscriptionTypes, Object: `e.payload -> 'subscription'`, Each: "$.price_intervals[*].price",
				Except: "$.plan.prices[*]", IDKey: "id", Embedded: true, Shape: Full, Refs: true, Extra: priceModelConfig,
				RepeatKey: `'null'`},
			{Types: []string{"snapshot.plan"}, Object: `e.payload -> 'plan'`, Each: "$.prices[*]",
				IDKey: "id", Embedded: true, Shape: Full,
				Extra: priceModelConfig + ` || jsonb_build_object('plan_id', e.payload #> '{plan,id}')`},
		},
	},
	{
		Name: "payment_methods", Table: "payment_methods", Key: "id", Version: 2,
		Sources: []Source{
			{Types: []string{"payment_method.created"}, Object: `e.payload -> 'payment_method'`, Shape: Full},
			{Types: []string{"payment_method.deleted"}, Object: `e.payload -> 'payment_method'`, Shape: Full,
				Extra: `jsonb_build_object('deleted_at', e.created_at)`},
		},
	},
	{
		Name: "credit_blocks", Table: "credit_blocks", Key: "id", Version: 3,
		Sources: []Source{
			{Types: []string{"credit_block.accounting_sync_failed", "credit_block.accounting_sync_succeeded"},
				Object: `e.payload -> 'block'`, Shape: Full,
				Extra: `jsonb_strip_nulls(jsonb_build_object('customer_id', e.payload #> '{accounting_sync_record,customer_id}'))`},
			{Types: []string{"customer.credit_ledger_incremented"}, Object: `e.payload -> 'properties' -> 'block'`,
				IDKey: "id", Embedded: true, Shape: Full,
				Extra: `jsonb_strip_nulls(jsonb_build_object('customer_id', e.payload #> '{customer,id}',
				'pricing_unit', e.payload #> '{properties,pricing_unit}'))`},
		},
	},
	{
		Name: "accounting_sync", Table: "accounting_sync", Key: "object_id", Version: 2,
		Sources: []Source{
			{Types: accountingSyncTypes, Object: `e.payload -> 'properties'`, Shape: Full, Extra: accountingSyncStatus},
		},
	},
}

// priceModelConfig is a price's model-specific <model_type>_config object,
// under one name whatever the model.
const priceModelConfig = `jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config'))`

// planPriceRepeatKey is what a plan price's shaped object reads besides
// the price: its plan's id, as refs hold it where the plan is an object
// (refs copy any other plan from the payload, prices and all). An id
// that is an object or an array is not vouched for: refs copy it without
// its null members.
const planPriceRepeatKey = `case when jsonb_typeof({{refs}} -> 'plan') = 'object' ` +
	`and coalesce(jsonb_typeof({{refs}} #> '{plan,id}') not in ('object', 'array'), true) ` +
	`then coalesce({{refs}} #> '{plan,id}', 'null') end`

// embeddedRepeatKey is the key of an embedded customer or plan whose
// shaped full object is the object itself: its fingerprint, which refs
// give an object (migration 025); a value refs copy from the payload (not
// an object) has none, and ->> reads none from it.
const embeddedRepeatKey = `{{refs}} ->> 'fp'`

var paymentMethodTypes = []string{"payment_method.created", "payment_method.deleted"}

// defaultPaymentMethod: a payment method created as the default becomes
// the customer's; deleting the default one leaves none.
const defaultPaymentMethod = `case when (x.o ->> 'default')::boolean is true then
	jsonb_build_object('default_payment_method', case when e.type = 'payment_method.created' then x.o else 'null'::jsonb end)
	else '{}'::jsonb end`

// accountingSyncStatus is one accounting-sync event as a status row.
const accountingSyncStatus = `jsonb_build_object(
	'object_type', split_part(e.type, '.', 1),
	'status', case when e.type like '%\_succeeded' then 'succeeded' else 'failed' end,
	'provider', x.o -> 'connection_type',
	'customer_id', e.payload #> '{accounting_sync_record,customer_id}',
	'accounting_sync_record', e.payload -> 'accounting_sync_record',
	'last_event_type', e.type)`

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

// KnownTypes is every event type the catalog reads or knowingly ignores.
func KnownTypes() map[string]bool {
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
