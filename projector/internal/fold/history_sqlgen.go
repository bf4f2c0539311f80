package fold

import (
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// historyApplySQL builds the history fold: the same sources, shapes and
// merge as applySQL, but every event's state is kept where it differs
// from the state before it. Reading it top down:
//
//   - live: the batch's events, as in applySQL.
//   - late: entities with a batch event older than the newest event their
//     current version has folded (folded_at, folded_seq), plus forced ids
//     ($3). Their versions are deleted and recomputed from the whole log.
//   - cand: the other entities' batch events, and every logged event
//     (seq <= $2) of the late ones, found by index.
//   - cur: the current version of each entity in the batch, one index
//     lookup each (the newest by primary key).
//   - base: where a continuing entity's fold starts: its current version.
//   - objs: each event's object, read once and shaped by its source.
//   - folds, states: the entity's row after each event, in order key
//     order: jsonb_populate_record over the newest full object and the
//     partial objects after it (or base, when no full object came in the
//     batch). A full object equal to the one just before it is skipped
//     first: it cannot change the state.
//   - marked: an event makes a version when its state differs from the one
//     before it in a column the payload can set.
//   - versions: the versions, each with where the next starts, and for an
//     entity without one its newest event folded.
//
// Cost: the objects are sorted once, by entity then order key, while they
// are all a row carries; every window after that (folds to versions) uses
// that order, so no state (a whole row) is sorted again. States are
// compared byte for byte first (sameImage). Joins between CTEs are avoided:
// the planner cannot know their sizes and may nest loops over them.
//   - removed, closed, written: late entities lose their versions; a
//     continuing entity's current version ends where its first new one
//     starts (or records the newest event folded); new versions are
//     written, each valid until the next, the newest until 'infinity'.
func (g *sqlGen) historyApplySQL() string {
	key := pgx.Identifier{g.p.Key}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "with ranked as materialized (\n%s\n),\nlive as materialized (\n  select b.* from ranked b\n  where b.entity is not null and %s\n),\n",
		g.historyRankUnion("e.seq > $1 and e.seq <= $2", "", nil), g.notDead("b.seq"))
	g.writeUnapplied(&b)
	fmt.Fprintf(&b, `cur as materialized (
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from %[1]s v
    where v.%[2]s = c.entity
    order by v.valid_from desc, v.last_event_seq desc
    limit 1
  ) h
),
late as materialized (
  select array(
    select b.entity from live b join cur h on h.entity = b.entity
    where (b.created_at, b.seq) < (h.folded_at, h.folded_seq)
    union
    select unnest($3::text[])%[5]s
  ) as ids
),
cand as (
  select b.seq, b.created_at, b.entity, b.full, b.src%[6]s from live b, late l where b.entity <> all (l.ids)
  union all
  select r.seq, r.created_at, r.entity, r.full, r.src%[7]s
  from (
%[3]s
  ) r
  where r.entity is not null and %[4]s
),
base as materialized (
  select h.entity, h.row, h.tid from cur h, late l where h.entity <> all (l.ids)
),
`, g.target, key, g.historyRankUnion("e.seq <= $2", "cross join late l", g.lookupWhere), g.notDead("r.seq"),
		g.historyPinLate(), g.pinCol("b")+g.keyCol("b"), g.pinCol("r")+g.keyCol("r"))
	fmt.Fprintf(&b, `cand_lf as (
  -- Each entity's newest event (lf_seq, lf_at: what its current version
  -- records as folded), while the rows carry no object: a window to the
  -- partition's end over the objects would keep them all at once (a plan
  -- in every subscription event), spilling to disk and reading it back
  -- once per row.
  select c.*, last_value(c.seq) over wl as lf_seq, last_value(c.created_at) over wl as lf_at
  from cand c
  window wl as (partition by c.entity order by c.created_at, c.seq rows between unbounded preceding and unbounded following)
),
%[18]sread as (
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, y.event_id, y.type, y.source, y.full, y.obj%[11]s%[17]s
  -- Sorted before the objects are read, in the order of every window
  -- after: objects (a plan in every subscription event) are never sorted.
  from (select c.* from cand_lf c%[14]s order by c.entity, c.created_at, c.seq) w
  -- One index lookup per event, decompressing its payload once (||
  -- returns it detoasted): the object and the sources' Extra read it.
  cross join lateral (
    select e.event_id, e.type, e.source, f.full, %[3]s as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, %[19]s as payload
      from %[1]s v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select %[2]s as o offset 0) x
    cross join lateral (select coalesce(w.full, %[4]s) as full) f
    cross join lateral (select %[16]s as s offset 0) sh
    where e.seq = w.seq
    offset 0
  ) y%[15]s
),
%[10]s%[12]sfolds as (
  -- Every window from here on is w, one order: the rows are sorted once,
  -- while they carry only their objects, and never again.
  select o.entity, o.seq, o.created_at, o.event_id, o.type, o.source, o.lf_seq, o.lf_at, b.entity is not null as has_base, b.row as base, b.tid as base_tid,
         -- A full object starts the fold anew (the base is left out from
         -- the first one on).
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::%[5]s else b.row end,
           %[6]s) as r0
  from %[13]s o
  left join base b on b.entity = o.entity
  where not o.repeated
  window w as (partition by o.entity order by o.created_at, o.seq)
),
states as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, %[9]s as r from folds s
  -- In folds' order, said again: without an order of its own this level
  -- forgets it, and marked's window sorted every state (whole rows, a
  -- subscription's ~50 KB each) once more, spilling to disk.
  order by s.entity, s.created_at, s.seq
  offset 0 -- Each state computed once: marked's lag(s.r) would compute it again.
),
marked as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r,
         case when s.prev_seq is null then not s.has_base or %[7]s else %[8]s end as changed
  from (
    select s.*, lag(s.seq) over w as prev_seq, lag(s.r) over w as prev
    from states s window w as (partition by s.entity order by s.created_at, s.seq)
  ) s
),
-- The versions, and for an entity that has none its newest event folded
-- (to record it on its current version): lf_seq, lf_at are the entity's
-- newest event folded, first_new where its first version starts,
-- base_from, base_seq the key of its current version, if any, and base_tid
-- where cur read it.
versions as materialized (
  select v.entity, v.seq, v.created_at, v.event_id, v.type, v.source, v.changed, v.lf_seq, v.lf_at, v.has_base,
         v.base_from, v.base_seq, v.base_tid, v.first_new, v.r,
         lead(v.created_at) over w as next_from, lead(v.seq) over w is null as newest
  from (
    select m.entity, m.seq, m.created_at, m.event_id, m.type, m.source, m.changed, m.lf_seq, m.lf_at, m.has_base,
           (m.base).valid_from as base_from, (m.base).last_event_seq as base_seq, m.base_tid,
           -- A jsonb column alike byte for byte in the current version is
           -- taken from it, still compressed: the INSERT writes it as it is
           -- instead of compressing it again (storedDatums).
           case when not m.changed then null
                when m.has_base then %[20]s
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
`, g.events, g.objectCase(), g.integralOf("sh.s"), g.fullFromObject("x.o"), g.target, g.foldValue(),
		g.differs("s.r", "s.base"), g.differs("s.r", "s.prev"), g.historyDerived("s"), g.objsCTE(),
		g.objsPinCols()+g.readKeyCols(), g.historyPin(), g.historyObjs(), g.fanReadWhere(), g.fanRead(fanFingerprint), g.shapeCaseFor("f.full"),
		g.fingerprintCols("y.obj", "w.src"), g.fanKeysCTE(), g.readPayload(), g.storedDatums("m.r", "m.base"))
	var names, values []string
	names = append(names, key)
	values = append(values, "v.entity")
	for _, c := range g.historyData() {
		id := pgx.Identifier{c.Name}.Sanitize()
		names = append(names, id)
		values = append(values, "(v.r)."+id)
	}
	for _, c := range []struct{ name, value string }{
		{colLastEventID, "v.event_id"}, {colLastEventSeq, "v.seq"}, {colLastEventAt, "v.created_at"},
		{colValidFrom, "v.created_at"}, {colValidTo, "coalesce(v.next_from, 'infinity')"},
		{colEventType, "v.type"}, {colEventSource, "v.source"},
		{colFoldedSeq, "case when v.newest then v.lf_seq end"},
		{colFoldedAt, "case when v.newest then v.lf_at end"},
	} {
		names = append(names, pgx.Identifier{c.name}.Sanitize())
		values = append(values, c.value)
	}
	fmt.Fprintf(&b, `removed as (
  delete from %[1]s h using late l where h.%[2]s = any (l.ids)
  returning 1
),
closed as (
  update %[1]s h set valid_to = coalesce(v.first_new, 'infinity'),
    folded_seq = case when v.first_new is null then v.lf_seq end,
    folded_at = case when v.first_new is null then v.lf_at end
  from (
    -- Only the columns used (offset 0: not the versions' whole states,
    -- which a hash of this side would carry, spilling them to disk).
    select v.entity, v.first_new, v.lf_seq, v.lf_at, v.base_from, v.base_seq, v.base_tid
    from versions v where v.has_base and v.newest offset 0
  ) v
  -- Each continuing entity's current version where cur read it (its tid,
  -- in this statement's snapshot): one lookup by tid, not a descent of
  -- the primary key, which is checked as well. By the key alone the join
  -- could be planned as a scan of the whole history every round.
  where h.ctid = v.base_tid
    and h.%[2]s = v.entity and h.valid_from = v.base_from and h.last_event_seq = v.base_seq
  returning 1
),
written as (
  insert into %[1]s (%[3]s)
  select %[4]s
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied)`,
		g.target, key, strings.Join(names, ", "), strings.Join(values, ", "))
	return b.String()
}

// foldShortcut, when false, folds every row through the aggregate
// (foldValue): the tests compare the shortcut against it.
var foldShortcut = true

// foldValue is the folded object of each row of folds: the objects of the
// entity's rows so far merged in order, each full one starting anew
// (jsonb_fold_agg over w). Where no two rows of an entity can share an
// event (peerless), the entity's newest row, when full, is its own object:
// the aggregate would return just that, and no row after it reads the
// aggregate, so it is not fed to it. The aggregate's step is an SQL
// function (its own executor per call) that copies the object into the
// aggregate's state, and in the common round (one full object per
// entity) every row is such a row: ~7% of subscriptions_history's fold.
// Rows are the same either way.
func (g *sqlGen) foldValue() string {
	general := fmt.Sprintf("coalesce(%s(o.obj, o.full) over w, '{}'::jsonb)", g.foldAgg)
	if !foldShortcut || !g.peerless() {
		return general
	}
	own := "coalesce(o.full, false) and o.seq = o.lf_seq"
	return fmt.Sprintf("case when %[1]s then coalesce(o.obj, '{}'::jsonb)\n"+
		"             else coalesce(%[2]s(o.obj, o.full) filter (where not (%[1]s)) over w, '{}'::jsonb) end", own, g.foldAgg)
}

// peerless reports whether no two candidates of one entity can come from
// the same event, so that an entity's newest row (lf_seq) is its last
// alone: every event type feeds one source, and no source fans its object
// out (Each: two items of one event may carry the same id).
func (g *sqlGen) peerless() bool {
	seen := map[string]bool{}
	for _, s := range g.p.Sources {
		if s.Each != "" {
			return false
		}
		for _, t := range s.Types {
			if seen[t] {
				return false
			}
			seen[t] = true
		}
	}
	return true
}

// storedDatums is the version r with each jsonb column that is the same,
// byte for byte, as the current version's (base) taken from base: the
// datum as stored, still compressed (cur reads the current version whole,
// which fetches its TOAST values but leaves them compressed). The INSERT
// then writes those bytes as they are, where a value built from the event
// is compressed again: a subscription version repeats its plan, price
// intervals and customer (~50 KB) in nearly every event, and compressing
// them was about a third of the INSERT's time. The same bytes, not equal
// jsonb (1.0 and 1.00 are equal): the row written is the one r would
// write. The comparison decompresses the stored value, cheaper than
// compressing it again; values of another size are told apart without
// it. The versions also carry less: a compressed value, not the whole
// one.
func (g *sqlGen) storedDatums(r, base string) string {
	cols := make([]string, len(g.columns))
	for i, c := range g.columns {
		id := pgx.Identifier{c.Name}.Sanitize()
		v := fmt.Sprintf("(%s).%s", r, id)
		if c.Type == "jsonb" && !c.Generated {
			stored := fmt.Sprintf("(%s).%s", base, id)
			v = fmt.Sprintf("case when %s then %s else %s end", sameImage("row("+v+")", "row("+stored+")"), stored, v)
		}
		cols[i] = v
	}
	return fmt.Sprintf("row(\n                  %s\n                )::%s", strings.Join(cols, ",\n                  "), g.target)
}

// historyData lists the columns a version takes from the folded object:
// the current table's writable columns, less the version bookkeeping.
func (g *sqlGen) historyData() []Column {
	var out []Column
	for _, c := range g.writable() {
		if !slices.Contains(historyColumns, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// differs compares two rows of the history table on the columns a payload
// can set: column by column, the cheap ones first, and a jsonb or array
// column by its bytes before its value. A version usually differs from the
// one before it in a few small columns (a status, metadata) and repeats
// the large ones (a subscription's plan, price intervals and customer,
// ~50 KB): comparing those by value walked every key of both (a third of
// the comparison's time per round), where equal bytes settle it with a
// memcmp. Columns alike byte for byte are equal; columns that differ in
// bytes are compared by value, so the result is the rows' IS DISTINCT FROM.
func (g *sqlGen) differs(a, b string) string {
	cols := g.historyData()
	if len(cols) == 0 {
		return "false"
	}
	var cheap, costly []string
	for _, c := range cols {
		id := pgx.Identifier{c.Name}.Sanitize()
		l, r := fmt.Sprintf("(%s).%s", a, id), fmt.Sprintf("(%s).%s", b, id)
		if costlyEquality(c.Type) {
			costly = append(costly, fmt.Sprintf("(not %s and %s is distinct from %s)", sameImage("row("+l+")", "row("+r+")"), l, r))
			continue
		}
		cheap = append(cheap, fmt.Sprintf("%s is distinct from %s", l, r))
	}
	return "(" + strings.Join(append(cheap, costly...), " or ") + ")"
}

// costlyEquality reports a column type whose equality walks the value
// (jsonb, arrays) rather than comparing bytes or a scalar.
func costlyEquality(typ string) bool {
	return typ == "jsonb" || strings.HasSuffix(typ, "[]")
}

// sameImage tells two rows alike byte for byte: equal, whatever their
// types, and far cheaper than jsonb's equality, which walks both values
// (0.3 ms for a plan object; a subscription version compares 50 KB of
// jsonb). Rows not alike byte for byte may still be equal (1.0 and 1.00),
// so it only spares the comparison, never replaces it.
func sameImage(a, b string) string {
	return fmt.Sprintf("pg_catalog.record_image_eq(%s, %s)", a, b)
}

// fullFromObject tells, from the object o already read, whether a summary
// source's object is full (w.full is NULL only for those).
func (g *sqlGen) fullFromObject(o string) string {
	var whens []string
	for i, s := range g.p.Sources {
		if s.Shape == Summary {
			whens = append(whens, fmt.Sprintf("when %d then coalesce((%s) ? %s, false)", i, o, orbsql.QuoteLiteral(s.FullKey)))
		}
	}
	if len(whens) == 0 {
		return "false"
	}
	return fmt.Sprintf("case w.src %s else false end", strings.Join(whens, " "))
}

// historyDerived is the row after an event with the projection's derived
// columns computed as the current table computes them when the log ends at
// that event (f: entity, last_seq, last_at; r: the folded row).
func (g *sqlGen) historyDerived(alias string) string {
	if len(g.p.Derived) == 0 {
		return alias + ".r0"
	}
	var pairs []string
	for _, d := range g.p.Derived {
		sql, _ := g.derived(d.Column)
		// The current table counts events up to the fold's end ($2); a
		// version counts those up to its own event, so it does not depend
		// on where batches were cut.
		pairs = append(pairs, orbsql.QuoteLiteral(d.Column), strings.ReplaceAll(sql, "$2", "f.last_seq"))
	}
	return fmt.Sprintf(`(select jsonb_populate_record(%[1]s.r0, jsonb_build_object(%[2]s))
     from (select %[1]s.entity, %[1]s.seq as last_seq, %[1]s.created_at as last_at) f, (select (%[1]s.r0).*) r)`,
		alias, strings.Join(pairs, ", "))
}

// repeated tells a full object equal to the full object just before it.
// Derived columns other than RowOnly ones may change with the event alone
// (a balance transaction that repeats the customer): a projection with
// any never skips, unless they read the row alone after all but some
// event types (RowOnlyUnless) and neither object came with one of them.
func (g *sqlGen) repeated() string {
	return g.repeatedWhen("(" + sameImage("row(o.obj)", "row(lag(o.obj) over w)") + " or o.obj = lag(o.obj) over w)")
}

// repeatedWhen is repeated with equal, a condition on o and the row before
// it in window w, for "the objects are equal".
func (g *sqlGen) repeatedWhen(equal string) string {
	var unless []string
	for _, d := range g.p.Derived {
		switch {
		case d.RowOnly:
		case len(d.RowOnlyUnless) > 0:
			unless = append(unless, d.RowOnlyUnless...)
		default:
			return "false"
		}
	}
	same := "o.full and lag(o.full) over w and " + equal
	if len(unless) > 0 {
		slices.Sort(unless)
		types := orbsql.TextArray(slices.Compact(unless))
		same = fmt.Sprintf("o.type <> all (%[1]s) and lag(o.type) over w <> all (%[1]s) and %[2]s", types, same)
	}
	return "coalesce(" + same + ", false)"
}

// repeatedRead is repeated for the objects as read (readEqual: keyed
// objects by their keys). For a pinned projection, both objects must also
// be of the same version and neither from a source that sets the default:
// then the version shown, and so the pinned object, is the same after both
// (see historyPin), and the second changes nothing.
func (g *sqlGen) repeatedRead() string {
	return g.repeatedPinned(g.readEqual())
}

// repeatedPinned is repeatedWhen with equal, and for a pinned projection
// the conditions repeatedRead gives.
func (g *sqlGen) repeatedPinned(equal string) string {
	same := g.repeatedWhen(equal)
	if g.p.Pin == nil {
		return same
	}
	ds := g.defaultSources()
	return fmt.Sprintf("(%s and coalesce(o.src <> all (%s) and lag(o.src) over w <> all (%s) and o.ver is not distinct from lag(o.ver) over w, false))",
		same, ds, ds)
}

// fanned lists the sources whose items the history fold reads together,
// one read of the event for all its items (fanRead): those that fan out
// (Source.Each) into full objects, in a projection without a pinned
// version. Each item would otherwise read and decompress the whole event
// again (a subscription's ~54 KB payload once per price of its plan).
func (g *sqlGen) fanned() []int {
	if g.p.Pin != nil {
		return nil
	}
	var out []int
	for i, s := range g.p.Sources {
		if s.Each != "" && s.Shape == Full {
			out = append(out, i)
		}
	}
	return out
}

// fanReadWhere leaves the fanned sources' candidates out of the read by
// event (fanRead reads them).
func (g *sqlGen) fanReadWhere() string {
	if len(g.fanned()) == 0 {
		return ""
	}
	return " where c.src <> all (" + intArray(g.fanned()) + ")"
}

// fanReadMode says what fanRead returns of each item.
type fanReadMode int

const (
	// fanFingerprint returns each candidate's fingerprint, not its object.
	fanFingerprint fanReadMode = iota
	// fanObjects returns the objects of the candidates kept.
	fanObjects
)

// fanRead reads the fanned sources' items: each event once, keeping of its
// items those the candidates name, the first of each id in path order (as
// fanObject would find it). The rows are not in window order, so the
// windows after sort them. Sorting the items themselves (a price in every
// subscription event, ten per plan) spilled to disk and was most of the
// cost of a history that changed nothing, so the items are read twice:
// first only their fingerprints (fanFingerprint), which the window sorts
// to find the repeated ones, then the objects of the others (fanObjects),
// usually a few.
func (g *sqlGen) fanRead(mode fanReadMode) string {
	idx := g.fanned()
	if len(idx) == 0 {
		return ""
	}
	from := "cand_lf"
	if len(g.keyed()) > 0 {
		from = "fan_unkeyed"
	}
	obj, fp, sel, tail := "null::jsonb", fingerprint("ob.obj"), "",
		"\n  cross join lateral (select "+g.integralOf("sh.s")+" as obj offset 0) ob"
	if mode == fanObjects {
		from, obj, fp, sel, tail = "kept", g.integralOf("sh.s"), "null::text", ", false as repeated", ""
	}
	var objs, paths strings.Builder
	for _, i := range idx {
		s := g.p.Sources[i]
		fmt.Fprintf(&objs, " when %d then (%s)", i, s.Object)
		fmt.Fprintf(&paths, " when %d then %s::jsonpath", i, orbsql.QuoteLiteral(s.Each))
	}
	return g.fanReadKeyed(mode) + fmt.Sprintf(`
  union all
  -- Items fanned out of an event (the prices of a subscription's plan):
  -- the event is read once for all its items (x, the first of each id in
  -- path order, as fanObject finds it), not once per item; each of the
  -- event's candidates (u) takes its item by id.
  select u.entity, e.seq, e.created_at, u.lf_seq, u.lf_at, e.event_id, e.type, e.source, u.is_full, %[1]s as obj, e.src, %[7]s as fp%[9]s
  from (
    select c.*, v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload
    from (
      %[8]s
    ) c
    -- The payload decompressed once (|| returns it detoasted), for the
    -- items and the sources' Extra, which read it again per item.
    cross join lateral (
      select v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from %[3]s v where v.seq = c.seq offset 0
    ) v
    offset 0 -- Read whole, once: never once per candidate.
  ) e
  cross join lateral (select e.src) w
  cross join lateral (
    select distinct on (i.o -> 'id') i.o
    from jsonb_path_query(case w.src%[4]s end, case w.src%[5]s end) with ordinality i(o, n)
    order by i.o -> 'id', i.n
  ) x
  join lateral unnest(e.ids, e.fulls, e.lf_seqs, e.lf_ats) u(entity, is_full, lf_seq, lf_at) on x.o -> 'id' = to_jsonb(u.entity)
  cross join lateral (select %[6]s as s offset 0) sh%[10]s`,
		obj, intArray(idx), g.events, objs.String(), paths.String(), g.shapeCaseFor("u.is_full"), fp, byEvent(from, idx, "      "), sel, tail)
}

// integralOf is integral for an object already shaped (ref, a column):
// jsonb_integral is an SQL function PostgreSQL cannot inline (it holds a
// subquery), so each call runs its own executor, ~20 µs. History shapes
// every copy of every object (the ten prices of each subscription event's
// plan), so it is called only for an object with a number spelled with a
// point or an exponent (30.0; jsonb prints 1E1 as 10) under one of the
// integer columns' keys, the only numbers it rewrites. For any other it
// returns the object as is (its || of an empty object returns the left
// operand itself), so the bytes are the same either way; a subscription's
// billing_cycle_day and net_terms are numbers in every event, and the call
// was ~7% of subscriptions_history's fold.
func (g *sqlGen) integralOf(ref string) string {
	var tests []string
	for _, k := range g.integerKeys() {
		q := orbsql.QuoteLiteral(k)
		tests = append(tests, fmt.Sprintf("(jsonb_typeof(%s -> %s) = 'number' and (%s ->> %s) ~ '[.eE]')", ref, q, ref, q))
	}
	if len(tests) == 0 {
		return ref
	}
	return fmt.Sprintf("case when %s then %s else %s end", strings.Join(tests, " or "), g.integral(ref), ref)
}

// byEvent groups the candidates in from of the fanned sources srcs by
// event: one row per event and source, its candidates' entities and
// bookkeeping in arrays, so that each event is read once for all of them.
// indent is the indentation of the lines after the first.
func byEvent(from string, srcs []int, indent string) string {
	return "select c.seq, c.src, min(c.created_at) as created_at, array_agg(c.entity) as ids, array_agg(c.full) as fulls,\n" +
		indent + "       array_agg(c.lf_seq) as lf_seqs, array_agg(c.lf_at) as lf_ats\n" +
		indent + "from " + from + " c where c.src = any (" + intArray(srcs) + ") group by c.seq, c.src"
}

// intArray is a SQL integer array literal.
func intArray(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return "array[" + strings.Join(s, ", ") + "]"
}

// fingerprint is the fingerprint of a jsonb object (obj) that stands in
// for the object where the history fold skips repeated ones: the MD5 of
// its text. The same bytes give the same text, so an object the byte
// comparison calls repeated still is; an object equal only as jsonb (1.0
// against 1.00) is kept and compared whole later, which changes no row.
// Not jsonb_hash_extended: it folds the hashes of an object's keys and
// values with a rotation of period 32, so the same change made to two
// values 32 keys and values apart cancels out, under every seed (two
// metadata values sixteen keys apart, changed alike, went unseen).
func fingerprint(obj string) string {
	return fmt.Sprintf("md5((%s)::text)", obj)
}

// fingerprintCols are read's columns for a projection with fanned sources
// (obj and src, the object and source of a row read by event): each row's
// source and fingerprint, so that objsCTE finds the repeated objects
// without sorting them.
func (g *sqlGen) fingerprintCols(obj, src string) string {
	if len(g.fanned()) == 0 {
		return ""
	}
	return ", " + src + " as src, " + fingerprint(obj) + " as fp"
}

// objsCTE leaves out, before anything else, each full object equal to
// the full object just before it: it cannot change the state (a plan
// embedded unchanged in every subscription event), and only counts as
// folded (lf_seq, lf_at: the entity's newest event). With fanned sources,
// their rows in read carry fingerprints instead of objects (fanRead), and
// only the items kept are read whole.
func (g *sqlGen) objsCTE() string {
	if len(g.embeddedKeyed()) > 0 {
		return g.keyedObjsCTE()
	}
	if len(g.fanned()) == 0 {
		return `objs as (
  -- A full object equal to the full object just before it cannot change
  -- the state (a plan embedded unchanged in every subscription event): it
  -- is left out before anything else, and only counts as folded (lf_seq,
  -- lf_at: the entity's newest event).
  select o.* from (
    select o.*, ` + g.repeatedRead() + ` as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.repeated
),
`
	}
	return `kept as (
  -- A full object equal to the full object just before it cannot change
  -- the state (the prices of a plan embedded unchanged in every
  -- subscription event): it is left out before anything else, and only
  -- counts as folded (lf_seq, lf_at: the entity's newest event). Compared
  -- by fingerprint: the fanned items are not read whole yet.
  select o.* from (
    select o.*, ` + g.repeatedWhen("o.fp = lag(o.fp) over w") + ` as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.repeated
),
objs as (
  select o.* from kept o where o.src <> all (` + intArray(g.fanned()) + `)` + g.fanRead(fanObjects) + `
),
`
}

// keyed lists the fanned sources whose repeated items the history fold
// finds from events.refs (Source.RepeatKey).
func (g *sqlGen) keyed() []int {
	var out []int
	for _, i := range g.fanned() {
		if g.p.Sources[i].RepeatKey != "" {
			out = append(out, i)
		}
	}
	return out
}

// fanKeysCTE keys the keyed sources' candidates from events.refs (see
// fanKeys), and lists in fan_unkeyed the fanned candidates read from the
// payload: those of the other fanned sources, and those refs cannot key.
func (g *sqlGen) fanKeysCTE() string {
	keyed := g.keyed()
	if len(keyed) == 0 {
		return ""
	}
	var paths, keys strings.Builder
	for _, i := range keyed {
		s := g.p.Sources[i]
		// Strict: the item keyed must be the one the payload read takes
		// (x.o -> 'id' = to_jsonb(entity)), an id equal to the entity.
		// A lax == unwraps an array id, so an earlier item whose id is
		// an array holding the entity would lend its fingerprint, and
		// every change of the real item would be skipped. Refs build
		// these lists as arrays of objects, which strict mode walks.
		fmt.Fprintf(&paths, " when %d then %s::jsonpath", i, orbsql.QuoteLiteral("strict "+s.Each+" ? (@.id == $id)"))
		fmt.Fprintf(&keys, " when %d then (%s)", i, strings.ReplaceAll(s.RepeatKey, "{{refs}}", "v.r"))
	}
	var other []int
	for _, i := range g.fanned() {
		if !slices.Contains(keyed, i) {
			other = append(other, i)
		}
	}
	unkeyed := "select k.seq, k.src, k.created_at, k.entity, k.full, k.lf_seq, k.lf_at from fan_keys k where k.fp is null"
	if len(other) > 0 {
		unkeyed = "select c.seq, c.src, c.created_at, c.entity, c.full, c.lf_seq, c.lf_at from cand_lf c where c.src = any (" +
			intArray(other) + ")\n  union all\n  " + unkeyed
	}
	return fmt.Sprintf(`fan_keys as (
  -- Each candidate of a source whose items refs fingerprint (an embedded
  -- plan's prices), keyed from refs, so that the repeated ones (nearly
  -- all: the plan comes in every subscription event) are found without
  -- reading the payload: its source, what its shaped object reads
  -- besides the item (RepeatKey: the plan id) and the fingerprint of the
  -- item, the first with its id in path order (as fanObject finds it in
  -- the payload: strict, an id equal to the entity, not an array holding
  -- it; silent, refs copied from the payload may not fit). A key is a
  -- JSON array's text: it never equals an object's fingerprint (read's
  -- other rows). NULL where refs cannot tell: rows without refs or
  -- without fingerprints (appended before migration 022), which are read
  -- from the payload.
  select u.entity, c.seq, c.created_at, u.lf_seq, u.lf_at, v.event_id, v.type, v.source, u.is_full as full, c.src,
         case when x.i ? 'fp' and v.k is not null then jsonb_build_array(c.src, v.k, x.i -> 'fp')::text end as fp
  from (
    %[1]s
  ) c
  -- One index lookup per event, reading its refs (about 1 KB, stored
  -- inline), never its payload; the key's part the event decides (k),
  -- once per event.
  cross join lateral (
    select v.event_id, v.type, v.source, v.r, case c.src%[4]s end::jsonb as k
    from (
      select v.event_id, v.type, v.source, v.refs -> 'subscription' as r
      from %[2]s v where v.seq = c.seq offset 0
    ) v
    offset 0
  ) v
  cross join lateral unnest(c.ids, c.fulls, c.lf_seqs, c.lf_ats) u(entity, is_full, lf_seq, lf_at)
  cross join lateral (
    select jsonb_path_query_first(v.r, case c.src%[3]s end, jsonb_build_object('id', u.entity), true) as i
    offset 0
  ) x
),
fan_unkeyed as (
  %[5]s
),
`, byEvent("cand_lf", keyed, "    "), g.events, paths.String(), keys.String(), unkeyed)
}

// fanReadKeyed is read's rows of the candidates fan_keys keyed: no
// object, their key as fingerprint.
func (g *sqlGen) fanReadKeyed(mode fanReadMode) string {
	if mode != fanFingerprint || len(g.keyed()) == 0 {
		return ""
	}
	return `
  union all
  -- Items keyed from refs (fan_keys): not read here.
  select k.entity, k.seq, k.created_at, k.lf_seq, k.lf_at, k.event_id, k.type, k.source, k.full, null::jsonb as obj, k.src, k.fp
  from fan_keys k where k.fp is not null`
}
