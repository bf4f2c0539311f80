package fold

// Names from the catalog for tests and benchmarks of package projector,
// which generate events of each kind and check provenance columns. They are
// aliases, so the catalog stays the one place to edit.
var (
	CustomerTypes                = customerTypes
	SubscriptionTypes            = subscriptionTypes
	InvoiceTypes                 = invoiceTypes
	SubscriptionAlertTypes       = subscriptionAlertTypes
	CustomerCreditAlertTypes     = customerCreditAlertTypes
	LightweightSubscriptionTypes = lightweightSubscriptionTypes
	PlanTypes                    = planTypes
	PaymentMethodTypes           = paymentMethodTypes
	AccountingSyncTypes          = accountingSyncTypes
)

// Provenance columns every projection table has.
const (
	ColLastEventID  = colLastEventID
	ColLastEventSeq = colLastEventSeq
	ColLastEventAt  = colLastEventAt
)

// ProjectionByName finds a projection in the catalog.
func ProjectionByName(name string) (Projection, bool) { return projectionByName(name) }

// BalanceTransactionType carries the full customer and the balance
// transaction that changed it.
const BalanceTransactionType = balanceTransactionType
