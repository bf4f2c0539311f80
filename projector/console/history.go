package console

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/projector"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// History reads an entity's timeline: the events that folded into its row,
// newest first, with the fields each changed, and the row as it stood at
// the newest of them. It is the seam between the pages and where history
// comes from (today the event log itself, folded with the projector's own
// rules).
type History interface {
	// Timeline reads up to asOf (Orb's created_at; zero: everything).
	Timeline(ctx context.Context, kind, id string, asOf time.Time) (Timeline, error)
}

// Timeline is an entity's recent history up to a moment.
type Timeline struct {
	// Events are newest first, at most timelineLimit.
	Events []TimelineEvent
	// State is the entity as the events up to the moment fold it (no row
	// when there were none).
	State map[string]Value
	// Earlier is set when older events exist than the ones listed.
	Earlier bool
}

// TimelineEvent is one event and what it changed.
type TimelineEvent struct {
	Seq                   int64
	EventID, Type, Source string
	CreatedAt, ReceivedAt time.Time
	// Shape is how the object folded: "full" replaces the row, "partial"
	// merges its fields.
	Shape   string
	Changes []Change
}

// Change is one field an event changed.
type Change struct {
	Field    string
	Old, New Value
}

// timelineLimit bounds the events a page lists (and reads).
const timelineLimit = 100

// NewLogHistory reads timelines from the event log: the entity's events by
// the index on (resource_id, resource_type, created_at, seq), each object
// folded as the projection folds it (full objects replace, partial ones
// merge their allowed keys), diffed against the state before it.
func NewLogHistory(pool *pgxpool.Pool, schema string) History {
	return &logHistory{pool: pool, schema: schema}
}

type logHistory struct {
	pool   *pgxpool.Pool
	schema string
}

// projectionOf maps an entity kind to the projection holding its rows.
var projectionOf = map[string]string{
	"customer": "customers", "subscription": "subscriptions", "invoice": "invoices",
	"credit_note": "credit_notes", "plan": "plans",
}

func (h *logHistory) Timeline(ctx context.Context, kind, id string, asOf time.Time) (Timeline, error) {
	p, ok := findProjection(projectionOf[kind])
	if !ok {
		return Timeline{}, fmt.Errorf("no history for %q", kind)
	}
	upTo := pgtype.Timestamptz{Time: asOf, Valid: true}
	if asOf.IsZero() {
		upTo.InfinityModifier = pgtype.Infinity
	}
	rows, err := h.pool.Query(ctx, h.query(p, kind), id, upTo, timelineLimit+1)
	if err != nil {
		return Timeline{}, fmt.Errorf("reading the history of %s %s: %w", kind, id, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[loggedObject])
	if err != nil {
		return Timeline{}, fmt.Errorf("reading the history of %s %s: %w", kind, id, err)
	}
	return fold(p, list), nil
}

func findProjection(name string) (projector.Projection, bool) {
	for _, p := range projector.Projections() {
		if p.Name == name {
			return p, true
		}
	}
	return projector.Projection{}, false
}

// loggedObject is one event's object as a source of the projection reads it.
type loggedObject struct {
	Seq        int64
	EventID    string
	Type       string
	Source     string
	CreatedAt  time.Time
	ReceivedAt time.Time
	SourceNo   int
	Object     *string
}

// query selects the newest events of every source of p about one entity,
// up to $2, at most $3, newest first. Object expressions come from the
// projector's catalog (its own SQL, never input). Sources found by
// resource id walk events_resource_idx backwards; the plan embedded in
// subscription payloads is found by its expression index.
func (h *logHistory) query(p projector.Projection, kind string) string {
	events := pgx.Identifier{h.schema, "events"}.Sanitize()
	var parts []string
	for i, s := range p.Sources {
		object := "(" + s.Object + ")"
		if s.Extra != "" {
			// Extra may read the object as x.o.
			object = "(select coalesce(x.o, '{}'::jsonb) || (" + s.Extra + ") from (select " + s.Object + " as o) x)"
		}
		where := "e.resource_id = $1 and e.resource_type = " + orbsql.QuoteLiteral(kind)
		if s.IDKey != "" {
			id := fmt.Sprintf("((%s) ->> %s)", s.Object, orbsql.QuoteLiteral(s.IDKey))
			where = id + " = $1 and " + id + " is not null"
		}
		parts = append(parts, fmt.Sprintf(`(select e.seq, e.event_id, e.type, e.source, e.created_at, e.received_at, %d, %s::text
 from %s e where %s and e.type = any (%s) and e.created_at <= $2
 order by e.created_at desc, e.seq desc limit $3)`, i, object, events, where, orbsql.TextArray(s.Types)))
	}
	return "select * from (" + strings.Join(parts, "\nunion all\n") + ") x order by created_at desc, seq desc limit $3"
}

// fold applies the events oldest first and records each one's changes.
// When more than timelineLimit events exist, the oldest one read is only
// the starting state, not listed.
func fold(p projector.Projection, newestFirst []loggedObject) Timeline {
	list := slices.Clone(newestFirst)
	slices.Reverse(list)
	var t Timeline
	if len(list) > timelineLimit {
		t.Earlier = true
	}
	var state map[string]Value
	for i, ev := range list {
		if ev.Object == nil {
			continue
		}
		src := p.Sources[ev.SourceNo]
		obj := object([]byte(*ev.Object))
		if obj == nil {
			continue
		}
		full := src.Shape == projector.Full || (src.Shape == projector.Summary && obj[src.FullKey] != nil)
		next := apply(state, obj, src, full)
		if t.Earlier && i == 0 {
			state = next
			continue
		}
		te := TimelineEvent{Seq: ev.Seq, EventID: ev.EventID, Type: ev.Type, Source: ev.Source,
			CreatedAt: ev.CreatedAt, ReceivedAt: ev.ReceivedAt, Shape: "partial", Changes: diff(state, next)}
		if full {
			te.Shape = "full"
		}
		t.Events = append(t.Events, te)
		state = next
	}
	slices.Reverse(t.Events)
	t.State = state
	return t
}

// apply folds one object onto state as the projection does: a full object
// becomes the state, a partial one merges its keys (only Allow, or all but
// Omit).
func apply(state, obj map[string]Value, src projector.Source, full bool) map[string]Value {
	if full {
		return obj
	}
	next := make(map[string]Value, len(state)+len(obj))
	for k, v := range state {
		next[k] = v
	}
	for k, v := range obj {
		if len(src.Allow) > 0 && !slices.Contains(src.Allow, k) || slices.Contains(src.Omit, k) {
			continue
		}
		next[k] = v
	}
	return next
}

// diff lists the fields whose value differs, sorted by name.
func diff(before, after map[string]Value) []Change {
	var changes []Change
	for k, v := range after {
		if old := before[k]; string(old) != string(v) && !(old.IsNull() && v.IsNull()) {
			changes = append(changes, Change{Field: k, Old: old, New: v})
		}
	}
	for k, old := range before {
		if _, ok := after[k]; !ok && !old.IsNull() {
			changes = append(changes, Change{Field: k, Old: old})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Field, b.Field) })
	return changes
}
