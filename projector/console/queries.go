package console

import orbsql "github.com/orb-sync/orb-sync/sql"

// queries is the console's static SQL, in sql/queries/projector/console/
// (one file per field, named by its tag; see package sql for the scheme).
// What depends on a table's columns (the current row, timelines) is built
// in Go.
type queries struct {
	// Search: $1 the query, $2 the most rows (events: $1 only).
	SearchCustomers   string `sql:"search_customers"`
	SearchSubs        string `sql:"search_subscriptions"`
	SearchInvoices    string `sql:"search_invoices"`
	SearchCreditNotes string `sql:"search_credit_notes"`
	SearchPlans       string `sql:"search_plans"`
	SearchEvents      string `sql:"search_events"`

	// Related lists: $1 the entity id, $2 the most rows, and in lists of
	// objects created over time $3, the as-of moment or null.
	CustomerSubscriptions       string `sql:"customer_subscriptions"`
	CustomerInvoices            string `sql:"customer_invoices"`
	CustomerCreditNotes         string `sql:"customer_credit_notes"`
	CustomerBalanceTransactions string `sql:"customer_balance_transactions"`
	SubscriptionCustomer        string `sql:"subscription_customer"`
	SubscriptionPlan            string `sql:"subscription_plan"`
	SubscriptionInvoices        string `sql:"subscription_invoices"`
	InvoiceCustomer             string `sql:"invoice_customer"`
	InvoiceSubscription         string `sql:"invoice_subscription"`
	InvoiceCreditNotes          string `sql:"invoice_credit_notes"`
	CreditNoteCustomer          string `sql:"credit_note_customer"`
	CreditNoteInvoice           string `sql:"credit_note_invoice"`
	PlanSubscriptions           string `sql:"plan_subscriptions"`

	Event string `sql:"event"`

	LogHeadReceived  string `sql:"log_head_received"`
	BackfillProgress string `sql:"backfill_progress"`
}

var sqlFiles = orbsql.MustQueries[queries]("projector/console")
