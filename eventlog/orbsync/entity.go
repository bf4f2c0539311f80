package orbsync

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// Entity is a collection the backfill reads from Orb's API.
type Entity struct {
	// Name is how users and the progress table call it, e.g. "credit_notes".
	Name string
	// Resource names one object: the snapshot type is "snapshot.<Resource>"
	// and the object sits under the key <Resource>, as in Orb's webhooks.
	Resource string
	// Path is the list endpoint below the API root.
	Path string
	// SinceFilter is the field a lower time bound filters on, e.g.
	// "created_at"; empty when the endpoint has none (the listing is then
	// always complete, which is cheap for these small collections).
	SinceFilter string
	// query holds the filters every page carries.
	query url.Values
	// aliases are other names accepted on the command line.
	aliases []string
}

// Entities are the collections a backfill reads by default, in the order
// they are started: the large ones first (FACTS.md §3.1).
var Entities = []Entity{
	{Name: "customers", Resource: "customer", Path: "customers", SinceFilter: "created_at"},
	{Name: "subscriptions", Resource: "subscription", Path: "subscriptions", SinceFilter: "created_at"},
	// GET /invoices hides drafts and voids unless status[] asks for them.
	{Name: "invoices", Resource: "invoice", Path: "invoices", SinceFilter: "invoice_date",
		query: arrayQuery("status", orbapi.AllInvoiceStatuses()...)},
	{Name: "credit_notes", Resource: "credit_note", Path: "credit_notes", SinceFilter: "created_at", aliases: []string{"credit-notes"}},
	{Name: "plans", Resource: "plan", Path: "plans", SinceFilter: "created_at"},
	{Name: "billable_metrics", Resource: "billable_metric", Path: "metrics", SinceFilter: "created_at",
		aliases: []string{"metrics", "billable-metrics"}},
	{Name: "items", Resource: "item", Path: "items"},
	// GET /coupons lists only active coupons unless show_archived=true.
	{Name: "coupons", Resource: "coupon", Path: "coupons", query: url.Values{"show_archived": {"true"}}},
	// GET /prices lists add-on prices only; plan prices come inside plans.
	{Name: "prices", Resource: "price", Path: "prices", aliases: []string{"add_on_prices", "add-on-prices"}},
}

// EntityNames returns the names of Entities, in order.
func EntityNames() []string {
	names := make([]string, len(Entities))
	for i, e := range Entities {
		names[i] = e.Name
	}
	return names
}

// LookupEntity finds an entity by name or alias, singular or plural, in any
// case ("invoice", "Invoices", "metrics").
func LookupEntity(name string) (Entity, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, e := range Entities {
		if n == e.Name || n == e.Resource || slices.Contains(e.aliases, n) {
			return e, true
		}
	}
	return Entity{}, false
}

// ParseEntities resolves names to entities, without repeats, in the order
// given; no names means all of them.
func ParseEntities(names []string) ([]Entity, error) {
	if len(names) == 0 {
		return slices.Clone(Entities), nil
	}
	var out []Entity
	for _, n := range names {
		e, ok := LookupEntity(n)
		if !ok {
			return nil, fmt.Errorf("unknown entity %q; want one of %s", n, strings.Join(EntityNames(), ", "))
		}
		if !slices.ContainsFunc(out, func(o Entity) bool { return o.Name == e.Name }) {
			out = append(out, e)
		}
	}
	return out, nil
}

// listQuery returns the filters for a listing from since (zero: all).
func (e Entity) listQuery(since time.Time) url.Values {
	q := url.Values{}
	for k, vs := range e.query {
		q[k] = slices.Clone(vs)
	}
	if e.SinceFilter != "" && !since.IsZero() {
		orbapi.SetTime(q, e.SinceFilter, orbapi.GTE, since)
	}
	return q
}

// effectiveSince is the bound a listing of e really applies: zero when e
// has no time filter, whatever was asked.
func (e Entity) effectiveSince(since time.Time) time.Time {
	if e.SinceFilter == "" {
		return time.Time{}
	}
	return since.UTC().Truncate(time.Microsecond) // What timestamptz keeps.
}

func arrayQuery(name string, values ...string) url.Values {
	q := url.Values{}
	orbapi.AddArray(q, name, values...)
	return q
}
