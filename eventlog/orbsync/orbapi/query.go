package orbapi

import (
	"net/url"
	"time"
)

// Op is a comparison in a range filter such as created_at[gte].
type Op string

// The comparisons Orb's range filters accept.
const (
	GT  Op = "gt"
	GTE Op = "gte"
	LT  Op = "lt"
	LTE Op = "lte"
)

// SetTime sets the range filter field[op] to t in RFC 3339, in UTC, e.g.
// created_at[gte]=2025-01-08T08:19:20Z. Fractional seconds are kept when t
// has them, so an lt bound is not widened or narrowed by truncation.
func SetTime(q url.Values, field string, op Op, t time.Time) {
	q.Set(field+"["+string(op)+"]", t.UTC().Format(time.RFC3339Nano))
}

// AddArray adds values to the array parameter name in Orb's bracket form,
// e.g. AddArray(q, "status", "draft", "void") gives
// status[]=draft&status[]=void.
func AddArray(q url.Values, name string, values ...string) {
	for _, v := range values {
		q.Add(name+"[]", v)
	}
}

// AllInvoiceStatuses returns every invoice status. GET /invoices returns only
// issued, paid and synced invoices unless status[] asks for more, so a
// complete backfill passes all of these.
func AllInvoiceStatuses() []string {
	return []string{"draft", "issued", "paid", "synced", "void"}
}
