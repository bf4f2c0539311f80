// Package consoletest holds a small billing history for the console's
// tests (handler tests here, browser tests in the CLI): one customer whose
// name is markup and whose email changes, with a subscription, a plan, an
// invoice that is issued then paid, a credit note and a balance
// transaction, plus a customer whose balance does not fit its column (a
// dead letter).
package consoletest

import (
	"fmt"
	"time"
)

// Secret signs the fixture's webhooks.
const Secret = "whsec_console_fixture_secret"

// Names the tests look for.
const (
	CustomerID      = "cus_console_1"
	ExternalID      = "ext-console-1"
	HostileName     = "<script>alert(1)</script>"
	OldEmail        = "Ada@Example.com"
	NewEmail        = "ada@newmail.example"
	SubscriptionID  = "sub_console_1"
	PlanID          = "plan_console_pro"
	ExternalPlanID  = "pro-monthly"
	InvoiceID       = "inv_console_1"
	InvoiceNumber   = "INV-0042"
	CreditNoteID    = "cn_console_1"
	CreditNoteNo    = "CN-0007"
	BadCustomerID   = "cus_console_bad"
	EditedEventID   = "evt_console_customer_edited"
	SnapshotEventID = "snap_console_customer"
)

// Times of the fixture's events (Orb's created_at). The email changes at
// EmailChangedAt; BeforeChange is a moment the old email was current.
var (
	CreatedAt      = time.Date(2025, 1, 10, 10, 0, 0, 0, time.UTC)
	BeforeChange   = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	EmailChangedAt = time.Date(2025, 2, 15, 9, 30, 0, 0, time.UTC)
)

// Event is one fixture event; Snapshot ones come from the API, the rest
// are webhooks.
type Event struct {
	Body     []byte
	Snapshot bool
}

// Events returns the fixture in delivery order.
func Events() []Event {
	customer := func(email, balance string) string {
		return fmt.Sprintf(`{"id":%q,"external_customer_id":%q,"name":%q,"email":%q,"balance":%q,"currency":"USD","created_at":"2025-01-10T10:00:00+00:00","metadata":{"note":"<img src=x onerror=alert(2)>"}}`,
			CustomerID, ExternalID, HostileName, email, balance)
	}
	ref := fmt.Sprintf(`{"id":%q,"external_customer_id":%q}`, CustomerID, ExternalID)
	plan := fmt.Sprintf(`{"id":%q,"external_plan_id":%q,"name":"Pro <b>monthly</b>","currency":"USD","status":"active","prices":[{"id":"price_1","name":"Seats"}]}`, PlanID, ExternalPlanID)
	subscription := fmt.Sprintf(`{"id":%q,"customer":%s,"plan":%s,"status":"active","start_date":"2025-01-10T00:00:00+00:00","price_intervals":[],"created_at":"2025-01-10T10:05:00+00:00"}`,
		SubscriptionID, customer(OldEmail, "0.00"), plan)
	invoice := func(status string) string {
		return fmt.Sprintf(`{"id":%q,"invoice_number":%q,"status":%q,"total":"25.00","amount_due":"25.00","currency":"USD","customer":%s,"subscription":{"id":%q},"invoice_date":"2025-02-01T00:00:00+00:00","created_at":"2025-02-01T00:00:00+00:00","line_items":[]}`,
			InvoiceID, InvoiceNumber, status, ref, SubscriptionID)
	}
	envelope := func(id, typ string, at time.Time, key, object, properties string) Event {
		return Event{Body: fmt.Appendf(nil, `{"id":%q,"type":%q,"created_at":%q,%q:%s,"properties":%s}`,
			id, typ, at.Format("2006-01-02T15:04:05.000000+00:00"), key, object, properties)}
	}
	snapshot := envelope(SnapshotEventID, "snapshot.customer", EmailChangedAt.Add(time.Hour), "customer", customer(NewEmail, "5.00"), `{"origin":"backfill"}`)
	snapshot.Snapshot = true
	return []Event{
		envelope("evt_console_customer_created", "customer.created", CreatedAt, "customer", customer(OldEmail, "0.00"), "{}"),
		envelope("evt_console_sub_created", "subscription.created", CreatedAt.Add(5*time.Minute), "subscription", subscription, "{}"),
		envelope("evt_console_inv_issued", "invoice.issued", BeforeChange.Add(-time.Hour), "invoice", invoice("issued"), "{}"),
		envelope("evt_console_inv_paid", "invoice.payment_succeeded", BeforeChange.Add(48*time.Hour), "invoice", invoice("paid"), "{}"),
		envelope("evt_console_cn_issued", "credit_note.issued", BeforeChange.Add(72*time.Hour), "credit_note",
			fmt.Sprintf(`{"id":%q,"credit_note_number":%q,"invoice_id":%q,"customer":%s,"total":"5.00","reason":"duplicate","created_at":"2025-02-04T00:00:00+00:00"}`,
				CreditNoteID, CreditNoteNo, InvoiceID, ref), "{}"),
		envelope(EditedEventID, "customer.edited", EmailChangedAt, "customer", customer(NewEmail, "0.00"),
			fmt.Sprintf(`{"previous_attributes":{"email":%q}}`, OldEmail)),
		envelope("evt_console_balance", "customer.balance_transaction_created", EmailChangedAt.Add(30*time.Minute), "customer", customer(NewEmail, "5.00"),
			`{"balance_transaction":{"id":"cbt_console_1","action":"manual_adjustment","amount":"5.00","starting_balance":"0.00","ending_balance":"5.00","created_at":"2025-02-15T10:00:00+00:00","description":"goodwill"}}`),
		snapshot,
		envelope("evt_console_bad", "customer.created", CreatedAt, "customer",
			fmt.Sprintf(`{"id":%q,"name":"Bad balance","balance":"not a number"}`, BadCustomerID), "{}"),
	}
}
