package console

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/projector"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// History reads an entity's timeline: the events that changed it (or were
// about it and changed nothing), newest first, with the fields each
// changed, and the row as it stood at the newest of them. It is the seam
// between the pages and where history comes from (the history projections,
// <table>_history).
type History interface {
	// Timeline reads up to asOf (Orb's created_at; zero: everything).
	Timeline(ctx context.Context, kind, id string, asOf time.Time) (Timeline, error)
}

// Timeline is an entity's recent history up to a moment.
type Timeline struct {
	// Events are newest first, at most timelineLimit.
	Events []TimelineEvent
	// State is the entity as it stood at the moment, by column (nil when
	// it did not exist yet); only read for an as-of moment.
	State map[string]Value
	// Earlier is set when older events exist than the ones listed.
	Earlier bool
	// Paused is set when the kind's history projection is paused
	// (PROJECTOR_HISTORY): the events and State end at PausedAt, its
	// checkpoint, however far the log has gone since.
	Paused   bool
	PausedAt int64
}

// TimelineEvent is one event and what it changed.
type TimelineEvent struct {
	Seq                   int64
	EventID, Type, Source string
	CreatedAt, ReceivedAt time.Time
	// Changes are the columns the event changed, by name; none for an
	// event that left the entity as it was.
	Changes []Change
}

// Change is one field an event changed.
type Change struct {
	Field    string
	Old, New Value
}

// timelineLimit bounds the events a page lists (and reads).
const timelineLimit = 100

// NewTableHistory reads timelines from the history projections: the
// entity's newest versions by the primary key of <table>_history (id,
// valid_from, last_event_seq), each compared column by column with the
// version before it in SQL, and its events that changed nothing (the
// change feed's changed = false rows) off events_resource_idx. Only the
// changed columns leave the database, so a page costs the same for a
// 1 KB customer as for a 40 KB subscription, and the same on any log size.
func NewTableHistory(pool *pgxpool.Pool, schema string) History {
	return &tableHistory{pool: pool, schema: schema, queries: map[string]historyQueries{}}
}

type tableHistory struct {
	pool   *pgxpool.Pool
	schema string

	mu      sync.Mutex
	queries map[string]historyQueries // by kind
}

// historyQueries are one kind's statements, built from its history
// table's columns on first use (migrations run before the console starts,
// and a rebuild keeps the columns).
type historyQueries struct {
	timeline, state string
}

// projectionOf maps an entity kind to the projection holding its rows.
var projectionOf = map[string]string{
	"customer": "customers", "subscription": "subscriptions", "invoice": "invoices",
	"credit_note": "credit_notes", "plan": "plans",
}

func (h *tableHistory) Timeline(ctx context.Context, kind, id string, asOf time.Time) (Timeline, error) {
	q, err := h.queriesFor(ctx, kind)
	if err != nil {
		return Timeline{}, err
	}
	upTo := pgtype.Timestamptz{Time: asOf, Valid: true}
	if asOf.IsZero() {
		upTo.InfinityModifier = pgtype.Infinity
	}
	rows, err := h.pool.Query(ctx, q.timeline, id, upTo, timelineLimit+1)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading the history of %s %s: %w", kind, id, err)
	}
	list, err := pgx.CollectRows(rows, scanTimelineEvent)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading the history of %s %s: %w", kind, id, err)
	}
	var t Timeline
	if len(list) > timelineLimit {
		list, t.Earlier = list[:timelineLimit], true
	}
	t.Events = list
	if t.PausedAt, t.Paused, err = projector.PausedAt(ctx, h.pool, h.schema, projectionOf[kind]+"_history"); err != nil {
		return Timeline{}, err
	}
	if asOf.IsZero() {
		return t, nil
	}
	rows, err = h.pool.Query(ctx, q.state, id, asOf)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading %s %s as of %s: %w", kind, id, asOf, err)
	}
	state, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return Timeline{}, fmt.Errorf("reading %s %s as of %s: %w", kind, id, asOf, err)
	}
	if len(state) > 0 {
		t.State = object(state[0])
	}
	return t, nil
}

func scanTimelineEvent(row pgx.CollectableRow) (TimelineEvent, error) {
	var e TimelineEvent
	var changes []byte
	if err := row.Scan(&e.Seq, &e.EventID, &e.Type, &e.Source, &e.CreatedAt, &e.ReceivedAt, &changes); err != nil {
		return e, err
	}
	if changes == nil {
		return e, nil
	}
	// [[field, old, new], …], sorted by field.
	var list [][3]json.RawMessage
	if err := json.Unmarshal(changes, &list); err != nil {
		return e, fmt.Errorf("decoding the changes of event %s: %w", e.EventID, err)
	}
	for _, c := range list {
		var field string
		if err := json.Unmarshal(c[0], &field); err != nil {
			return e, fmt.Errorf("decoding the changes of event %s: %w", e.EventID, err)
		}
		e.Changes = append(e.Changes, Change{Field: field, Old: Value(c[1]), New: Value(c[2])})
	}
	return e, nil
}

func (h *tableHistory) queriesFor(ctx context.Context, kind string) (historyQueries, error) {
	h.mu.Lock()
	q, ok := h.queries[kind]
	h.mu.Unlock()
	if ok {
		return q, nil
	}
	table, ok := projectionOf[kind]
	if !ok || !slices.Contains(projector.VersionedTables(), table) {
		return historyQueries{}, fmt.Errorf("no history for %q", kind)
	}
	columns, err := compared(ctx, h.pool, h.schema, table)
	if err != nil {
		return historyQueries{}, err
	}
	q = historyQueries{
		timeline: timelineQuery(h.schema, table, kind, columns),
		state: fmt.Sprintf("select row_to_json(a)::text from %s($2) a where a.id = $1",
			pgx.Identifier{h.schema, table + "_as_of"}.Sanitize()),
	}
	h.mu.Lock()
	h.queries[kind] = q
	h.mu.Unlock()
	return q, nil
}

// bookkeeping columns say which event made a version, not what the
// object is: a timeline never lists them as changes.
var bookkeeping = []string{"last_event_id", "last_event_seq", "last_event_at"}

// compared lists the columns of table (the current one, whose columns its
// history table shares) a timeline compares, in table order.
func compared(ctx context.Context, db *pgxpool.Pool, schema, table string) ([]string, error) {
	rows, err := db.Query(ctx, "select * from "+pgx.Identifier{schema, table}.Sanitize()+" limit 0")
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	var names []string
	for _, f := range rows.FieldDescriptions() {
		if !slices.Contains(bookkeeping, f.Name) {
			names = append(names, f.Name)
		}
	}
	return names, rows.Err()
}

// timelineQuery reads one entity's timeline: $1 its id, $2 the moment
// (infinity for now), $3 how many rows at most, newest first: seq,
// event_id, type, source, created_at, received_at, and changes, a JSON
// array of [column, old, new] for an event that made a version, null for
// one that changed nothing.
//
// Versions are the newest $3 by the primary key, each joined to the one
// before it (one more primary-key probe). Events that changed nothing are
// the entity's events off events_resource_idx that made no version (a
// primary-key probe each: a version's valid_from is its event's
// created_at); once $3 versions are listed, no older event can make the
// page, so that scan stops at the oldest of them.
func timelineQuery(schema, table, kind string, columns []string) string {
	hist := pgx.Identifier{schema, table + "_history"}.Sanitize()
	events := pgx.Identifier{schema, "events"}.Sanitize()
	var diffs []string
	for _, c := range slices.Sorted(slices.Values(columns)) { // changes listed by column name
		col := pgx.Identifier{c}.Sanitize()
		diffs = append(diffs, fmt.Sprintf("case when v.%[1]s is distinct from p.%[1]s then jsonb_build_array(%[2]s, to_jsonb(p.%[1]s), to_jsonb(v.%[1]s)) end",
			col, orbsql.QuoteLiteral(c)))
	}
	return strings.NewReplacer("{{hist}}", hist, "{{events}}", events, "{{kind}}", orbsql.QuoteLiteral(kind),
		"{{changes}}", strings.Join(diffs, ",\n        ")).Replace(`
with v as (
    select h.* from {{hist}} h
    where h.id = $1 and h.valid_from <= $2
    order by h.valid_from desc, h.last_event_seq desc
    limit $3
), listed as (
    select v.last_event_seq as seq, to_jsonb(array_remove(array[
        {{changes}}
    ], null)) as changes
    from v
    left join lateral (
        select * from {{hist}} p
        where p.id = v.id and (p.valid_from, p.last_event_seq) < (v.valid_from, v.last_event_seq)
        order by p.valid_from desc, p.last_event_seq desc
        limit 1
    ) p on true
    union all
    (select e.seq, null
     from {{events}} e
     where e.resource_id = $1 and e.resource_type = {{kind}} and e.created_at <= $2
       and e.created_at >= (select case when count(*) = $3 then min(v.valid_from) else '-infinity' end from v)
       and not exists (select from {{hist}} h where h.id = $1 and h.valid_from = e.created_at and h.last_event_seq = e.seq)
     order by e.created_at desc, e.seq desc
     limit $3)
)
select e.seq, e.event_id, e.type, e.source, e.created_at, e.received_at, l.changes
from listed l
join {{events}} e on e.seq = l.seq
order by e.created_at desc, e.seq desc
limit $3`)
}
