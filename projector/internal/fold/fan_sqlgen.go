package fold

import (
	"fmt"
	"slices"
	"strings"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// The SQL of a source whose object fans out (Source.Each): one candidate
// object per item of a JSON path over the event's object, each with its
// own entity id. The object is read once per event while ranking (fp.o);
// a winning item is read again by its id.

// fanFrom adds to a FROM clause over e the items of source s, as o.o.
func fanFrom(s Source) string {
	return fmt.Sprintf(" cross join lateral (select %s as o offset 0) fp cross join lateral jsonb_path_query(fp.o, %s) o(o)",
		rankObject(s), orbsql.QuoteLiteral(s.Each))
}

// refsObject is where the objects events.refs keeps the skeleton of sit.
const refsObject = "e.payload -> 'subscription'"

// rankObject is the object of source s as ranking reads it: from
// events.refs when the source may and the row has them (Source.Refs).
func rankObject(s Source) string {
	if !s.Refs {
		return s.Object
	}
	return "coalesce(e.refs, e.payload)" + strings.TrimPrefix(s.Object, "e.payload")
}

// idFilter is a JSON path filter for the items whose id is the string
// $id: only a string id names an entity (see stringID). Lax == alone
// unwraps an array id, so an item whose id is an array holding $id would
// match too (and, before the real item in path order, be taken for it).
// type() does not unwrap.
const idFilter = ` ? (@.id == $id && @.id.type() == "string")`

// fanWhere leaves out the items another source folds (Source.Except):
// those whose id is among the other source's string ids, as the batch's
// ranking finds them (fanBatchSelect).
func fanWhere(s Source) string {
	if s.Except == "" {
		return ""
	}
	return fmt.Sprintf(" and not jsonb_path_exists(fp.o, %s, jsonb_build_object('id', o.o -> 'id'))",
		orbsql.QuoteLiteral(s.Except+idFilter))
}

// fanObject is the item of event e whose id is entity, the first in path
// order.
func fanObject(s Source, entity string) string {
	return fmt.Sprintf("jsonb_path_query_first(%s, %s, jsonb_build_object('id', %s))",
		s.Object, orbsql.QuoteLiteral(s.Each+idFilter), entity)
}

// fanIDs is the array of the items' ids of event e, as the migration
// indexes it (GIN, where it is not null): over events.refs when the
// source may (migration 021 indexes a subscription's from refs).
func fanIDs(s Source) string {
	return fmt.Sprintf("jsonb_path_query_array(%s, %s)", rankObject(s), orbsql.QuoteLiteral(s.Each+".id"))
}

// fanLookup finds, by the GIN index, the events carrying an item whose id
// is among the late ids, and keeps only those items.
func fanLookup(s Source) string {
	return fmt.Sprintf("%s ?| l.ids and o.o ->> 'id' = any (l.ids)", fanIDs(s))
}

// sourceFrom adds to a FROM clause over e what ranking source s reads: its
// items, or its object when the id or version is inside it.
func sourceFrom(s Source) string {
	switch {
	case s.Each != "":
		return fanFrom(s)
	case needsObject(s):
		return fmt.Sprintf(" cross join lateral (select %s as o offset 0) o", rankObject(s))
	}
	return ""
}

// A batch's events of a fan source are many: every subscription event
// carries its plan's prices, so a batch of 3,000 subscription events would
// rank 30,000 price rows, nearly all of them the same few prices, and each
// later stage (dead letters, late, stale, the newest per entity) would
// pay for every one. Only two of an entity's batch events can matter to
// the fold, because a fan source's objects are all full: the newest (the
// fold window starts at the newest full object, so nothing older of this
// source is read) and the oldest (whether the batch holds an event older
// than the row, which makes the entity late or stale, depends on the
// entity alone: see applySQL's stale). So the events are grouped by the
// ids they fan out to (events with equal ids name the same entities), and
// only each group's newest and oldest event is fanned. The ids come from
// events.refs when the source may (Source.Refs), and dead letters are
// left out before grouping, so a group's newest is its newest foldable
// event.
//
// Fan sources over the same events and object (a subscription's plan
// prices and its price intervals' prices) are grouped together, by all
// their ids at once: one pass over the batch's events serves them all (a
// finer grouping only keeps more events, never fewer).

// batchRank is ranked, the batch's events per source: fan sources
// reduced as above. Each row's n is how many ranked rows it stands for,
// so that the fold still reports every event read (see liveCount).
func (g *sqlGen) batchRank() string {
	where := "e.seq > $1 and e.seq <= $2"
	if !g.reduces() {
		return g.rankUnion(where, "", nil)
	}
	var parts []string
	done := map[int]bool{}
	for i, s := range g.p.Sources {
		switch {
		case done[i]:
		case s.Each != "":
			members := g.fanGroup(i)
			for _, m := range members {
				done[m] = true
			}
			parts = append(parts, g.fanBatchSelect(members, where))
		case g.reducible(s):
			parts = append(parts, g.reducedSelect(i, s, where))
		default:
			parts = append(parts, g.rankSelect(i, s, where, "", ", 1::bigint as n"))
		}
	}
	return strings.Join(parts, "\n    union all\n")
}

// fanGroup lists the fan sources that read the same events' same object
// as fan source i (i among them), in catalog order.
func (g *sqlGen) fanGroup(i int) []int {
	s := g.p.Sources[i]
	var out []int
	for j, o := range g.p.Sources {
		if o.Each != "" && rankObject(o) == rankObject(s) && slices.Equal(o.Types, s.Types) {
			out = append(out, j)
		}
	}
	return out
}

// reduces reports whether the projection's batch ranking reduces a
// source: a fan source, or a reducible one.
func (g *sqlGen) reduces() bool {
	for _, s := range g.p.Sources {
		if s.Each != "" || g.reducible(s) {
			return true
		}
	}
	return false
}

// reducible reports whether the batch's events of source s are reduced
// to those that can matter to the fold (reducedSelect): a full object
// every subscription event embeds (Refs: many events name few entities,
// and ranking reads the skeleton, not the payload), embedded (an event
// without one is no dead letter, so events without an id may be counted
// together), with its id in the object, and not pinned to a version
// (Pin's ranking reads every version). A summary source (the embedded
// customer) is not reduced: measured on the drain's backlog, grouping
// its events cost more than the later stages saved.
func (g *sqlGen) reducible(s Source) bool {
	return g.p.Pin == nil && s.Refs && s.Embedded && s.Each == "" && s.IDKey != "" && s.Shape == Full &&
		s.Resolve == "" && !s.Versioned && !s.SetsDefault
}

// liveCount selects the number of events the fold read.
func (g *sqlGen) liveCount() string {
	if !g.reduces() {
		return "select count(*) from live"
	}
	return "select coalesce(sum(b.n), 0)::bigint from live b"
}

// fanBatchSelect ranks the batch's events of the fan sources members
// (one fanGroup), reduced to the newest and oldest event per group of
// equal ids, fanned out to one row per string id (see stringID) and
// source. Groups are told apart by the text of the ids' arrays (those of
// each member's Each and Except paths, each path once) compared as bytes
// (k): cheaper to hash than jsonb, equal texts are equal ids (equal ids
// spelt two ways only make two groups), and the arrays' texts, each a
// whole JSON value, join without ambiguity. The groups are hashed, not
// sorted: each keeps its count and its newest and oldest event as the
// greatest and least [epoch of created_at, seq] (numeric, exact to the
// microsecond, so the order is (created_at, seq)); the two kept events
// are read again by position.
func (g *sqlGen) fanBatchSelect(members []int, where string) string {
	s := g.p.Sources[members[0]]
	var paths []string
	for _, m := range members {
		ms := g.p.Sources[m]
		paths = append(paths, ms.Each+".id")
		if ms.Except != "" {
			paths = append(paths, ms.Except+".id")
		}
	}
	slices.Sort(paths)
	paths = slices.Compact(paths)
	keys := make([]string, len(paths))
	for j, p := range paths {
		keys[j] = fmt.Sprintf("jsonb_path_query_array(fp.o, %s)::text", orbsql.QuoteLiteral(p))
	}
	rows := make([]string, len(members))
	for j, m := range members {
		ms := g.p.Sources[m]
		ex := "null::jsonb"
		if ms.Except != "" {
			ex = fmt.Sprintf("jsonb_path_query_array(e.o, %s)", orbsql.QuoteLiteral(ms.Except+".id"))
		}
		rows[j] = fmt.Sprintf("(%d, jsonb_path_query_array(e.o, %s), %s)", m, orbsql.QuoteLiteral(ms.Each+".id"), ex)
	}
	return fmt.Sprintf(`    select e.seq, e.created_at, e.event_id, i.v #>> '{}' as entity, true as full, f.src as src%[1]s,
           case when w.newest then k.cnt else 0 end as n
    from (
      select %[9]s
      from %[2]s e
      cross join lateral (select %[3]s as o offset 0) fp
      cross join lateral (select (%[4]s) collate "C" as k offset 0) x
      where %[5]s and e.type = any (%[6]s) and %[7]s
      group by x.k
    ) k
    %[10]s
    cross join lateral (values %[8]s) f(src, ids, ex)
    cross join lateral jsonb_array_elements(f.ids) i(v)
    where (w.newest or k.cnt > 1) and jsonb_typeof(i.v) = 'string' and i.v <> '""'
      and not coalesce(f.ex @> jsonb_build_array(i.v), false)`,
		g.rankVer(s), g.events, rankObject(s), strings.Join(keys, " || "),
		where, orbsql.TextArray(s.Types), g.notDead("e.seq"), strings.Join(rows, ", "),
		groupEnds, g.keptEnds(", "+rankObject(s)+" as o"))
}

// reducedSelect ranks the batch's events of source s (reducible),
// keeping of each entity's objects, all full, only the newest and the
// oldest. As for a fan source (see above), a full object older than the
// source's newest full one is never in a fold window (the window starts
// at the newest full object of any source), and only the entity's oldest
// batch event decides whether the batch is late for it. The newest event
// of a group stands for the group's count (n). The groups are hashed,
// their newest and oldest found as in fanBatchSelect, and the kept events
// read again by position.
func (g *sqlGen) reducedSelect(i int, s Source, where string) string {
	return fmt.Sprintf(`    select e.seq, e.created_at, e.event_id, k.entity, true as full, %[1]d as src%[2]s,
           case when w.newest then k.cnt else 0 end as n
    from (
      select %[3]s as entity, %[9]s
      from %[4]s e%[5]s
      where %[6]s and e.type = any (%[7]s) and %[8]s
      group by 1
    ) k
    %[10]s
    where w.newest or k.cnt > 1`,
		i, g.rankVer(s), g.rankID(s), g.events, sourceFrom(s), where, orbsql.TextArray(s.Types), g.notDead("e.seq"),
		groupEnds, g.keptEnds(""))
}

// groupEnds aggregates a group of a batch's events (fanBatchSelect,
// reducedSelect) without sorting it: its count, and its newest and oldest
// event as the greatest and least [epoch of created_at, seq] (numeric,
// exact to the microsecond, so the order is (created_at, seq)).
const groupEnds = `count(*) as cnt,
             max(array[extract(epoch from e.created_at), e.seq]) as hi,
             min(array[extract(epoch from e.created_at), e.seq]) as lo`

// keptEnds reads again, as e, each group's newest event (w.newest) and
// its oldest (the same event when the group has one), with cols after
// e.seq, e.created_at and e.event_id.
func (g *sqlGen) keptEnds(cols string) string {
	return fmt.Sprintf(`cross join lateral (values (k.hi[2]::bigint, true), (k.lo[2]::bigint, false)) w(seq, newest)
    -- One index lookup per kept event (a join could be planned as a scan
    -- of the whole log).
    cross join lateral (select e.seq, e.created_at, e.event_id%s from %s e where e.seq = w.seq offset 0) e`, cols, g.events)
}
