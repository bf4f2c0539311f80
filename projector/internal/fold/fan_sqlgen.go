package fold

import (
	"fmt"
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

// fanWhere leaves out the items another source folds (Source.Except).
func fanWhere(s Source) string {
	if s.Except == "" {
		return ""
	}
	return fmt.Sprintf(" and not jsonb_path_exists(fp.o, %s, jsonb_build_object('id', o.o -> 'id'))",
		orbsql.QuoteLiteral(s.Except+" ? (@.id == $id)"))
}

// fanObject is the item of event e whose id is entity.
func fanObject(s Source, entity string) string {
	return fmt.Sprintf("jsonb_path_query_first(%s, %s, jsonb_build_object('id', %s))",
		s.Object, orbsql.QuoteLiteral(s.Each+" ? (@.id == $id)"), entity)
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

// batchRank is ranked, the batch's events per source: fan sources
// reduced as above. Each row's n is how many ranked rows it stands for,
// so that the fold still reports every event read (see liveCount).
func (g *sqlGen) batchRank() string {
	where := "e.seq > $1 and e.seq <= $2"
	if !g.reducesFans() {
		return g.rankUnion(where, "", nil)
	}
	parts := make([]string, len(g.p.Sources))
	for i, s := range g.p.Sources {
		if s.Each != "" {
			parts[i] = g.fanBatchSelect(i, s, where)
			continue
		}
		parts[i] = g.rankSelect(i, s, where, "", ", 1::bigint as n")
	}
	return strings.Join(parts, "\n    union all\n")
}

// reducesFans reports whether the projection has a fan source.
func (g *sqlGen) reducesFans() bool {
	for _, s := range g.p.Sources {
		if s.Each != "" {
			return true
		}
	}
	return false
}

// liveCount selects the number of events the fold read.
func (g *sqlGen) liveCount() string {
	if !g.reducesFans() {
		return "select count(*) from live"
	}
	return "select coalesce(sum(b.n), 0)::bigint from live b"
}

// fanBatchSelect ranks the batch's events of fan source s, reduced to the
// newest and oldest event per group of equal ids (x.ids, and x.ex, the ids
// Except leaves to another source), fanned out to one row per id. Groups
// are told apart by the ids' text compared as bytes (k): cheaper to sort
// than jsonb, and equal texts are equal ids (equal ids spelt two ways only
// make two groups).
func (g *sqlGen) fanBatchSelect(i int, s Source, where string) string {
	ex, exWhere := "null::jsonb", ""
	if s.Except != "" {
		ex = fmt.Sprintf("jsonb_path_query_array(fp.o, %s)", orbsql.QuoteLiteral(s.Except+".id"))
		exWhere = " and not (k.ex @> jsonb_build_array(i.v))"
	}
	return fmt.Sprintf(`    select k.seq, k.created_at, k.event_id, i.v #>> '{}' as entity, true as full, %[1]d as src%[2]s,
           case when k.rn_new = 1 then k.cnt else 0 end as n
    from (
      select e.seq, e.created_at, e.event_id, x.ids, x.ex,
             row_number() over (partition by x.k order by e.created_at desc, e.seq desc) as rn_new,
             row_number() over (partition by x.k order by e.created_at, e.seq) as rn_old,
             count(*) over (partition by x.k) as cnt
      from %[3]s e
      cross join lateral (select %[4]s as o offset 0) fp
      cross join lateral (select jsonb_path_query_array(fp.o, %[5]s) as ids, %[6]s as ex offset 0) y
      cross join lateral (select y.ids, y.ex, (y.ids::text || coalesce(y.ex::text, '')) collate "C" as k) x
      where %[7]s and e.type = any (%[8]s) and %[9]s
    ) k cross join lateral jsonb_array_elements(k.ids) i(v)
    where (k.rn_new = 1 or k.rn_old = 1)%[10]s`,
		i, g.rankVer(s), g.events, rankObject(s), orbsql.QuoteLiteral(s.Each+".id"), ex,
		where, orbsql.TextArray(s.Types), g.notDead("e.seq"), exWhere)
}
