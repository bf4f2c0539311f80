package fold

import "slices"

// History (issue 11): for each table in versioned, the catalog holds a
// second projection, <table>_history, that keeps every version of every
// entity instead of only the newest. It reads the same Sources, so the same
// rule folds both; it has its own checkpoint, dead letters, rebuild (shadow
// table and swap) and verify, like any projection. Its table and as-of
// function come from the migration's history_create(<table>).
//
// A version is the entity's state after an event, when that state differs
// from the previous one in some column the event can set: an event that
// changes nothing (a webhook carrying only properties, a duplicate snapshot)
// adds no row. Each version is valid in Orb time from its event's
// created_at to the next version's ('infinity' for the current one). The
// current version also records the newest event folded (folded_seq,
// folded_at): an event older than that is late, and its entity's versions
// are recomputed from its whole history, so delivery order never changes
// the history.

// versioned lists the tables that keep history. Append-only tables (one
// row per event, never updated) have nothing to version.
// plan_versions is left out: a plan version does not change once created.
var versioned = []string{"customers", "subscriptions", "invoices", "credit_notes", "plans", "billable_metrics",
	"items", "coupons", "prices", "payment_methods", "credit_blocks"}

// HistoryChunkMax bounds the log positions one history fold reads in a
// rebuild: unlike a current-state fold, which reads only each entity's
// newest objects, it carries every event's object through its sorts. It is
// the live projector's default batch.
const HistoryChunkMax = 20000

// historyRule is the version of the history fold itself; it is added to
// the base projection's Version, so a change to either rebuilds history.
const historyRule = 1

// Columns every history table has besides the current table's.
const (
	colValidFrom   = "valid_from"
	colValidTo     = "valid_to"
	colEventType   = "event_type"
	colEventSource = "event_source"
	colFoldedSeq   = "folded_seq"
	colFoldedAt    = "folded_at"
)

var historyColumns = []string{colValidFrom, colValidTo, colEventType, colEventSource, colFoldedSeq, colFoldedAt}

// HistoryColumns are the columns a history table has besides its current
// table's.
func HistoryColumns() []string { return slices.Clone(historyColumns) }

// VersionedTables lists the tables that keep history.
func VersionedTables() []string { return slices.Clone(versioned) }

// withHistory appends the history projection of each versioned table.
func withHistory(base []Projection) []Projection {
	out := slices.Clone(base)
	for _, p := range base {
		if slices.Contains(versioned, p.Table) {
			out = append(out, historyOf(p))
		}
	}
	return out
}

func historyOf(p Projection) Projection {
	return Projection{
		Name:    p.Name + "_history",
		Table:   p.Table + "_history",
		Key:     p.Key,
		Version: p.Version + historyRule - 1,
		Sources: slices.Clone(p.Sources),
		Derived: slices.Clone(p.Derived),
		Pin:     p.Pin,
		History: true,
	}
}

// KeyColumns are the columns that identify a row of the projection's table.
func (p Projection) KeyColumns() []string {
	if p.History {
		return []string{p.Key, colValidFrom, colLastEventSeq}
	}
	return []string{p.Key}
}

// BaseTable is the current-state table a history projection versions; a
// current-state projection's own table.
func (p Projection) BaseTable() string {
	if p.History {
		return p.Table[:len(p.Table)-len("_history")]
	}
	return p.Table
}

// The history columns by name, for readers and tests outside the package.
const (
	ColValidFrom   = colValidFrom
	ColValidTo     = colValidTo
	ColEventType   = colEventType
	ColEventSource = colEventSource
	ColFoldedSeq   = colFoldedSeq
	ColFoldedAt    = colFoldedAt
)
