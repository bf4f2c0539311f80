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
}

func newStore(pool *pgxpool.Pool, schema string) *store {
	return &store{pool: pool, schema: schema}
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
	// Search matches a query against indexed columns; $1 is the query.
	Search string
	// Label and Detail are SQL expressions over t shown in results.
	Label, Detail string
}

// kinds have entity pages, in the order search results are grouped.
var kinds = []Kind{
	{Name: "customer", Title: "Customers", Table: "customers",
		Search: "t.id = $1 or t.external_customer_id = $1 or lower(t.email) = lower($1)",
		Label:  "coalesce(t.name, '')", Detail: "concat_ws(' · ', t.external_customer_id, t.email)"},
	{Name: "subscription", Title: "Subscriptions", Table: "subscriptions",
		Search: "t.id = $1",
		Label:  "coalesce(t.plan ->> 'name', t.name, '')", Detail: "concat_ws(' · ', t.status, t.customer ->> 'name')"},
	{Name: "invoice", Title: "Invoices", Table: "invoices",
		Search: "t.id = $1 or t.invoice_number = $1",
		Label:  "coalesce(t.invoice_number, '')", Detail: "concat_ws(' · ', t.status, t.total || ' ' || t.currency, t.invoice_date::date)"},
	{Name: "credit_note", Title: "Credit notes", Table: "credit_notes",
		Search: "t.id = $1 or t.credit_note_number = $1",
		Label:  "coalesce(t.credit_note_number, '')", Detail: "concat_ws(' · ', t.reason, t.total, t.invoice_id)"},
	{Name: "plan", Title: "Plans", Table: "plans",
		Search: "t.id = $1 or t.external_plan_id = $1",
		Label:  "coalesce(t.name, '')", Detail: "concat_ws(' · ', t.external_plan_id, t.status, t.currency)"},
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
		batch.Queue(fmt.Sprintf("select t.id, %s, %s from %s t where %s order by t.id limit %d",
			k.Label, k.Detail, s.table(k.Table), k.Search, searchLimit), q)
	}
	batch.Queue("select e.event_id, e.type, concat_ws(' · ', e.source, e.resource_type, e.resource_id) from "+
		s.table("events")+" e where e.event_id = $1", q)
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

// relatedQuery lists objects linked to an entity. SQL selects the id then
// the cells as text; $1 is the entity id and, in lists that use it, $2 the
// as-of time (objects created later are left out) or null.
type relatedQuery struct {
	Title, Kind string
	Columns     []string
	SQL         string
}

// relatedQueries per kind. Each filters on an indexed column.
func (s *store) relatedQueries(kind string) []relatedQuery {
	created := "($2::timestamptz is null or t.created_at <= $2)"
	switch kind {
	case "customer":
		return []relatedQuery{
			{"Subscriptions", "subscription", []string{"plan", "status", "start date", "end date"},
				"select t.id, t.plan ->> 'name', t.status, t.start_date::date::text, t.end_date::date::text from " + s.table("subscriptions") +
					" t where t.customer_id = $1 and " + created + " order by t.created_at desc nulls last, t.id"},
			{"Invoices", "invoice", []string{"number", "status", "total", "invoice date"},
				"select t.id, t.invoice_number, t.status, concat_ws(' ', t.total, t.currency), t.invoice_date::date::text from " + s.table("invoices") +
					" t where t.customer_id = $1 and " + created + " order by t.invoice_date desc nulls last, t.id"},
			{"Credit notes", "credit_note", []string{"number", "reason", "total", "invoice"},
				"select t.id, t.credit_note_number, t.reason, t.total::text, t.invoice_id from " + s.table("credit_notes") +
					" t where t.customer_id = $1 and " + created + " order by t.created_at desc nulls last, t.id"},
			{"Balance transactions", "", []string{"created", "action", "amount", "ending balance", "description"},
				"select t.id, to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), t.action, t.amount::text, t.ending_balance::text, t.description from " +
					s.table("customer_balance_transactions") + " t where t.customer_id = $1 and " + created + " order by t.created_at desc nulls last, t.id"},
		}
	case "subscription":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"},
				"select c.id, c.name, c.external_customer_id from " + s.table("subscriptions") + " t join " + s.table("customers") +
					" c on c.id = t.customer_id where t.id = $1"},
			{"Plan", "plan", []string{"name", "external id"},
				"select p.id, p.name, p.external_plan_id from " + s.table("subscriptions") + " t join " + s.table("plans") +
					" p on p.id = t.plan_id where t.id = $1"},
			{"Invoices", "invoice", []string{"number", "status", "total", "invoice date"},
				"select t.id, t.invoice_number, t.status, concat_ws(' ', t.total, t.currency), t.invoice_date::date::text from " + s.table("invoices") +
					" t where t.subscription_id = $1 and " + created + " order by t.invoice_date desc nulls last, t.id"},
		}
	case "invoice":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"},
				"select c.id, c.name, c.external_customer_id from " + s.table("invoices") + " t join " + s.table("customers") +
					" c on c.id = t.customer_id where t.id = $1"},
			{"Subscription", "subscription", []string{"plan", "status"},
				"select s.id, s.plan ->> 'name', s.status from " + s.table("invoices") + " t join " + s.table("subscriptions") +
					" s on s.id = t.subscription_id where t.id = $1"},
			{"Credit notes", "credit_note", []string{"number", "reason", "total"},
				"select t.id, t.credit_note_number, t.reason, t.total::text from " + s.table("credit_notes") +
					" t where t.invoice_id = $1 and " + created + " order by t.created_at desc nulls last, t.id"},
		}
	case "credit_note":
		return []relatedQuery{
			{"Customer", "customer", []string{"name", "external id"},
				"select c.id, c.name, c.external_customer_id from " + s.table("credit_notes") + " t join " + s.table("customers") +
					" c on c.id = t.customer_id where t.id = $1"},
			{"Invoice", "invoice", []string{"number", "status", "total"},
				"select i.id, i.invoice_number, i.status, concat_ws(' ', i.total, i.currency) from " + s.table("credit_notes") + " t join " + s.table("invoices") +
					" i on i.id = t.invoice_id where t.id = $1"},
		}
	case "plan":
		return []relatedQuery{
			{"Subscriptions", "subscription", []string{"customer", "status", "start date"},
				"select t.id, t.customer ->> 'name', t.status, t.start_date::date::text from " + s.table("subscriptions") +
					" t where t.plan_id = $1 and " + created + " order by t.created_at desc nulls last, t.id"},
		}
	}
	return nil
}

// related reads every list linked to an entity in one round trip.
func (s *store) related(ctx context.Context, kind, id string, asOf *time.Time) ([]Related, error) {
	queries := s.relatedQueries(kind)
	batch := &pgx.Batch{}
	for _, q := range queries {
		args := []any{id}
		if strings.Contains(q.SQL, "$2") {
			args = append(args, asOf)
		}
		batch.Queue(fmt.Sprintf("%s limit %d", q.SQL, relatedLimit+1), args...)
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
	err := s.pool.QueryRow(ctx, `select seq, event_id, type, source, created_at, received_at,
       coalesce(resource_type, ''), coalesce(resource_id, ''), `+eventlog.BodyColumns+`, coalesce(orb_timestamp, ''), coalesce(orb_signature, '')
from `+s.table("events")+` where event_id = $1`, eventID).Scan(&e.Seq, &e.EventID, &e.Type, &e.Source, &e.CreatedAt,
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
