package console

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
)

// store runs the console's queries. Each is a lookup or a short range on
// an index, so a page costs the same on a log of a thousand events or a
// billion (see bench_test.go).
type store struct {
	pool   *pgxpool.Pool
	schema string
	q      queries
}

func newStore(pool *pgxpool.Pool, schema string) *store {
	return &store{pool: pool, schema: schema, q: sqlFiles.For(schema)}
}

// table is the quoted, schema-qualified name of one of our tables.
func (s *store) table(name string) string {
	return pgx.Identifier{s.schema, name}.Sanitize()
}

// Kind is an entity kind with a page: its URL segment, table and how
// search finds it.
type Kind struct {
	Name  string // URL segment and the log's resource_type
	Title string
	Table string
	// search is its statement (queries) matching a query against the
	// indexed columns: $1 the query, $2 the most rows.
	search func(queries) string
}

// kinds have entity pages, in the order search results are grouped.
var kinds = []Kind{
	{Name: "customer", Title: "Customers", Table: "customers", search: func(q queries) string { return q.SearchCustomers }},
	{Name: "subscription", Title: "Subscriptions", Table: "subscriptions", search: func(q queries) string { return q.SearchSubs }},
	{Name: "invoice", Title: "Invoices", Table: "invoices", search: func(q queries) string { return q.SearchInvoices }},
	{Name: "credit_note", Title: "Credit notes", Table: "credit_notes", search: func(q queries) string { return q.SearchCreditNotes }},
	{Name: "plan", Title: "Plans", Table: "plans", search: func(q queries) string { return q.SearchPlans }},
}

func kindNamed(name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// searchLimit bounds the results per kind.
const searchLimit = 50

// Hit is one search result.
type Hit struct {
	Kind          string
	ID            string
	Label, Detail string
}

// HitGroup is the results of one kind.
type HitGroup struct {
	Title string
	Hits  []Hit
}

// search finds q as an id, external id, email, invoice or credit note
// number, or event id, in one round trip.
func (s *store) search(ctx context.Context, q string) ([]HitGroup, error) {
	batch := &pgx.Batch{}
	for _, k := range kinds {
		batch.Queue(k.search(s.q), q, searchLimit)
	}
	batch.Queue(s.q.SearchEvents, q)
	results := s.pool.SendBatch(ctx, batch)
	defer results.Close()
	var groups []HitGroup
	for _, k := range append(kinds, Kind{Name: "event", Title: "Events"}) {
		rows, err := results.Query()
		if err != nil {
			return nil, fmt.Errorf("searching %s: %w", k.Table, err)
		}
		hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Hit, error) {
			h := Hit{Kind: k.Name}
			return h, row.Scan(&h.ID, &h.Label, &h.Detail)
		})
		if err != nil {
			return nil, fmt.Errorf("searching %s: %w", k.Name, err)
		}
		if len(hits) > 0 {
			groups = append(groups, HitGroup{Title: k.Title, Hits: hits})
		}
	}
	return groups, nil
}

// Field is one column of a row, in table order.
type Field struct {
	Name  string
	Value Value
}

// currentRow reads the entity's row from its table, in column order, and
// the table's column names (also when the row does not exist).
func (s *store) currentRow(ctx context.Context, k Kind, id string) ([]Field, []string, error) {
	rows, err := s.pool.Query(ctx, "select row_to_json(t)::text from "+s.table(k.Table)+" t where t.id = $1", id)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s %s: %w", k.Name, id, err)
	}
	text, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s %s: %w", k.Name, id, err)
	}
	columns, err := s.columns(ctx, k.Table)
	if err != nil {
		return nil, nil, err
	}
	if len(text) == 0 {
		return nil, columns, nil
	}
	fields, err := orderedObject([]byte(text[0]))
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s %s: %w", k.Name, id, err)
	}
	return fields, columns, nil
}

// columns lists a table's columns in order, without reading a row.
func (s *store) columns(ctx context.Context, table string) ([]string, error) {
	rows, err := s.pool.Query(ctx, "select * from "+s.table(table)+" limit 0")
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	var names []string
	for _, f := range rows.FieldDescriptions() {
		names = append(names, f.Name)
	}
	return names, rows.Err()
}

// Related is a list of objects linked to an entity.
type Related struct {
	Title   string
	Kind    string // link target kind; "" for rows without a page
	Columns []string
	Rows    []RelatedRow
	// More is set when the list was cut at relatedLimit.
	More bool
}

// RelatedRow is one linked object: its id and the cells shown.
type RelatedRow struct {
	ID    string
	Cells []string
}

const relatedLimit = 50

// relatedQuery lists objects linked to an entity: SQL (queries) selects
// the id then the cells as text; $1 is the entity id, $2 the most rows,
// and, when AsOf, $3 the as-of time (objects created later are left out)
// or null.
type relatedQuery struct {
	Title, Kind string
	Columns     []string
	SQL         string
	AsOf        bool
}

// relatedQueries per kind. Each filters on an indexed column.
func (s *store) relatedQueries(kind string) []relatedQuery {
	q := s.q
	switch kind {
	case "customer":
		return []relatedQuery{
			{"Subscriptions", "subscription", []string{"plan", "status", "start date", "end date"}, q.CustomerSubscriptions, true},
			{"Invoices", "invoice", []string{"number", "status", "total", "invoice date"}, q.CustomerInvoices, true},
			{"Credit notes", "credit_note", []string{"number", "reason", "total", "invoice"}, q.CustomerCreditNotes, true},
			{"Balance transactions", "", []string{"created", "action", "amount", "ending balance", "description"}, q.CustomerBalanceTransactions, true},
		}
	case "subscription":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"}, q.SubscriptionCustomer, false},
			{"Plan", "plan", []string{"name", "external id"}, q.SubscriptionPlan, false},
			{"Invoices", "invoice", []string{"number", "status", "total", "invoice date"}, q.SubscriptionInvoices, true},
		}
	case "invoice":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"}, q.InvoiceCustomer, false},
			{"Subscription", "subscription", []string{"plan", "status"}, q.InvoiceSubscription, false},
			{"Credit notes", "credit_note", []string{"number", "reason", "total"}, q.InvoiceCreditNotes, true},
		}
	case "credit_note":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"}, q.CreditNoteCustomer, false},
			{"Invoice", "invoice", []string{"number", "status", "total"}, q.CreditNoteInvoice, false},
		}
	case "plan":
		return []relatedQuery{
			{"Subscriptions", "subscription", []string{"customer", "status", "start date"}, q.PlanSubscriptions, true},
		}
	}
	return nil
}

// related reads every list linked to an entity in one round trip.
func (s *store) related(ctx context.Context, kind, id string, asOf *time.Time) ([]Related, error) {
	queries := s.relatedQueries(kind)
	batch := &pgx.Batch{}
	for _, q := range queries {
		args := []any{id, relatedLimit + 1}
		if q.AsOf {
			args = append(args, asOf)
		}
		batch.Queue(q.SQL, args...)
	}
	results := s.pool.SendBatch(ctx, batch)
	defer results.Close()
	var out []Related
	for _, q := range queries {
		rows, err := results.Query()
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s %s: %w", strings.ToLower(q.Title), kind, id, err)
		}
		list, err := pgx.CollectRows(rows, scanRelated)
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s %s: %w", strings.ToLower(q.Title), kind, id, err)
		}
		r := Related{Title: q.Title, Kind: q.Kind, Columns: q.Columns, Rows: list}
		if len(list) > relatedLimit {
			r.Rows, r.More = list[:relatedLimit], true
		}
		out = append(out, r)
	}
	return out, nil
}

func scanRelated(row pgx.CollectableRow) (RelatedRow, error) {
	values, err := row.Values()
	if err != nil {
		return RelatedRow{}, err
	}
	var r RelatedRow
	for i, v := range values {
		text := ""
		if v != nil {
			text = fmt.Sprint(v)
		}
		if i == 0 {
			r.ID = text
		} else {
			r.Cells = append(r.Cells, text)
		}
	}
	return r, nil
}

// RawEvent is one stored event with what the console shows about it.
type RawEvent struct {
	Seq                        int64
	EventID, Type, Source      string
	CreatedAt, ReceivedAt      time.Time
	ResourceType, ResourceID   string
	Body                       []byte
	OrbTimestamp, OrbSignature string
}

var errNotFound = errors.New("not found")

// event reads one event by its Orb id.
func (s *store) event(ctx context.Context, eventID string) (RawEvent, error) {
	var e RawEvent
	var compressed []byte
	err := s.pool.QueryRow(ctx, s.q.Event, eventID).Scan(&e.Seq, &e.EventID, &e.Type, &e.Source, &e.CreatedAt,
		&e.ReceivedAt, &e.ResourceType, &e.ResourceID, &e.Body, &compressed, &e.OrbTimestamp, &e.OrbSignature)
	if errors.Is(err, pgx.ErrNoRows) {
		return RawEvent{}, errNotFound
	}
	if err == nil {
		e.Body, err = eventlog.DecodeBody(e.Body, compressed)
	}
	if err != nil {
		return RawEvent{}, fmt.Errorf("reading event %s: %w", eventID, err)
	}
	return e, nil
}
