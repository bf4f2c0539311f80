package fold

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// The SQL of a pinned projection (Projection.Pin). applySQL inserts it
// around its own stages; a projection without a pin runs none of it.
//
//   - ranked carries ver: a Versioned source's full object's version, or
//     the default a SetsDefault event names (NULL otherwise).
//   - pin: per entity of the batch, the version to show, decided from the
//     row (its default, shown and highest versions) and the batch; an
//     entity whose batch names a default is recomputed instead.
//   - live keeps only the pinned version's full objects.
//   - relog, relog_pin: a recomputed entity's whole history and the
//     version it pins, decided from that history alone.
//   - pinned: the default and highest version each written row records.
//   - bumped: a row whose batch brought only other versions' objects still
//     records a new highest version.

// rankVer is the ver column of source s while ranking.
func (g *sqlGen) rankVer(s Source) string {
	switch {
	case g.p.Pin == nil:
		return ""
	case s.Versioned:
		v := fmt.Sprintf("o.o -> %s", orbsql.QuoteLiteral(g.p.Pin.Key))
		return fmt.Sprintf(", case when %s and jsonb_typeof(%s) = 'number' then (%s #>> '{}')::numeric end as ver", rankFull(s), v, v)
	case s.SetsDefault:
		v := "(" + g.p.Pin.DefaultValue + ")"
		return fmt.Sprintf(", case when jsonb_typeof(%s) = 'number' then (%s #>> '{}')::numeric end as ver", v, v)
	}
	return ", null::numeric as ver"
}

// defaultSources lists, as an SQL array, the SetsDefault sources.
func (g *sqlGen) defaultSources() string {
	var idx []string
	for i, s := range g.p.Sources {
		if s.SetsDefault {
			idx = append(idx, fmt.Sprint(i))
		}
	}
	return "array[" + strings.Join(idx, ", ") + "]::int[]"
}

// pinColumns are the quoted shown-version, default and highest-version
// columns.
func (g *sqlGen) pinColumns() (shown, dflt, latest string) {
	return pgx.Identifier{g.p.Pin.Key}.Sanitize(), pgx.Identifier{g.p.Pin.DefaultColumn}.Sanitize(),
		pgx.Identifier{g.p.Pin.LatestColumn}.Sanitize()
}

// writePin writes the pin CTE, between ranked and live.
func (g *sqlGen) writePin(b *strings.Builder) {
	shown, dflt, latest := g.pinColumns()
	fmt.Fprintf(b, `pin as materialized (
  -- The version to show: the row's default when an object of it is shown
  -- or comes in this batch, else the highest version seen.
  select k.entity, k.sets, k.maxv,
         case when t.%[4]s is not null and (t.%[3]s = t.%[4]s or t.%[4]s = any (k.vers)) then t.%[4]s
              else greatest(t.%[5]s, k.maxv) end as target
  from (
    select b.entity, bool_or(b.src = any (%[6]s)) as sets,
           max(b.ver) filter (where b.src <> all (%[6]s)) as maxv,
           array_agg(b.ver) filter (where b.src <> all (%[6]s) and b.ver is not null) as vers
    from ranked b where b.entity is not null and %[7]s
    group by b.entity
  ) k
  left join %[1]s t on t.%[2]s = k.entity
),
`, g.target, pgx.Identifier{g.p.Key}.Sanitize(), shown, dflt, latest, g.defaultSources(), g.notDead("b.seq"))
}

// pinFilter keeps, of rows aliased r with pins aliased p, the pinned
// version's full objects and every other object.
func (g *sqlGen) pinFilter(r, p string) string {
	return fmt.Sprintf("(%[1]s.ver is null or %[1]s.src = any (%[3]s) or %[1]s.ver = %[2]s.target)", r, p, g.defaultSources())
}

// writeRelog writes relog (every logged event of the recomputed entities)
// and relog_pin, after late.
func (g *sqlGen) writeRelog(b *strings.Builder) {
	fmt.Fprintf(b, `relog as materialized (
  select r.* from (
%[1]s
  ) r
  where r.entity is not null and %[2]s
),
relog_pin as materialized (
  -- The default the newest default event names, when an object of it was
  -- seen; else the highest version seen.
  select x.entity, x.dflt, x.maxv,
         case when x.dflt = any (x.vers) then x.dflt else x.maxv end as target
  from (
    select r.entity,
           (array_agg(r.ver order by r.created_at desc, r.seq desc) filter (where r.src = any (%[3]s)))[1] as dflt,
           max(r.ver) filter (where r.src <> all (%[3]s)) as maxv,
           array_agg(r.ver) filter (where r.src <> all (%[3]s) and r.ver is not null) as vers
    from relog r group by r.entity
  ) x
),
`, g.rankUnion("e.seq <= $2", "cross join late l", g.lookupWhere), g.notDead("r.seq"), g.defaultSources())
}

// writePinned writes pinned, after cand: the default and highest version
// each entity's row records after this fold.
func (g *sqlGen) writePinned(b *strings.Builder) {
	_, dflt, latest := g.pinColumns()
	fmt.Fprintf(b, `pinned as materialized (
  select p.entity, t.%[3]s as dflt, greatest(t.%[4]s, p.maxv) as latest
  from pin p cross join late l left join %[1]s t on t.%[2]s = p.entity
  where p.entity <> all (l.ids)
  union all
  select r.entity, r.dflt, r.maxv from relog_pin r
),
`, g.target, pgx.Identifier{g.p.Key}.Sanitize(), dflt, latest)
}

// pinObject merges the pinned columns over the shaped object obj of the
// window row aliased w.
func (g *sqlGen) pinObject(obj, w string) string {
	if g.p.Pin == nil {
		return obj
	}
	return fmt.Sprintf(`(%[1]s) || coalesce((select jsonb_build_object(%[3]s, pd.dflt, %[4]s, pd.latest)
      from pinned pd where pd.entity = %[2]s.entity), '{}'::jsonb)`,
		obj, w, orbsql.QuoteLiteral(g.p.Pin.DefaultColumn), orbsql.QuoteLiteral(g.p.Pin.LatestColumn))
}

// writeBumped writes bumped, after folded: rows whose batch folded nothing
// (only other versions' objects came) still record the highest version.
func (g *sqlGen) writeBumped(b *strings.Builder) {
	_, _, latest := g.pinColumns()
	key := pgx.Identifier{g.p.Key}.Sanitize()
	fmt.Fprintf(b, `bumped as (
  update %[1]s t set %[3]s = pd.latest
  from pinned pd
  where t.%[2]s = pd.entity and t.%[3]s is distinct from pd.latest
    and not exists (select from folded f where f.entity = pd.entity)
  returning 1
),
`, g.target, key, latest)
}

// pinCol is the ver column of rows aliased alias, for a pinned projection.
func (g *sqlGen) pinCol(alias string) string {
	if g.p.Pin == nil {
		return ""
	}
	return ", " + alias + ".ver"
}

// objsPinCols are the columns a pinned history's objs carries on.
func (g *sqlGen) objsPinCols() string {
	if g.p.Pin == nil {
		return ""
	}
	return ", w.ver, w.src"
}

// historyPinLate recomputes the history of an entity whose batch names a
// new default.
func (g *sqlGen) historyPinLate() string {
	if g.p.Pin == nil {
		return ""
	}
	return fmt.Sprintf("\n    union\n    select b.entity from live b where b.src = any (%s)", g.defaultSources())
}

// historyObjs is what the history fold reads its objects from.
func (g *sqlGen) historyObjs() string {
	if g.p.Pin == nil {
		return "objs"
	}
	// Objects pinned alike may be repeated even when read apart.
	return "(\n    select o.*, " + g.repeated() + " as repeated\n" +
		"    from pinned_objs o window w as (partition by o.entity order by o.created_at, o.seq)\n  )"
}

// historyPin writes, for a pinned history, the CTEs that keep of objs the
// version shown after each event: the state after an event is what the
// current table would show were the log to end there (objects ordered by
// order key). The default (dflt) is the newest default event's so far (or
// the base version's), the highest version (maxv) the highest so far; the
// pinned version switches to the default from the first object of it. A
// default event that pins an older object than the state's restarts the
// fold there: its object becomes the newest object of that version with the
// partial objects after it merged (default events always recompute the
// entity, so all its objects are in objs).
func (g *sqlGen) historyPin() string {
	if g.p.Pin == nil {
		return ""
	}
	ds := g.defaultSources()
	return fmt.Sprintf(`pin_firsts as (
  select distinct on (o.entity, o.ver) o.entity, o.ver, o.created_at, o.seq
  from objs o where o.ver is not null and o.src <> all (%[1]s)
  order by o.entity, o.ver, o.created_at, o.seq
),
pin_steps as (
  select o.*, b.row as base_row,
         case when o.dgrp > 0 then first_value(o.ver) over (partition by o.entity, o.dgrp order by o.created_at, o.seq)
              else (b.row).%[3]s end as dflt,
         greatest((b.row).%[4]s, o.run_max) as maxv
  from (
    select o.*, count(*) filter (where o.src = any (%[1]s)) over w as dgrp,
           max(o.ver) filter (where o.src <> all (%[1]s)) over w as run_max
    from objs o window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  left join base b on b.entity = o.entity
),
pin_targets as (
  select s.*, case when s.dflt is not null and ((s.base_row).%[2]s = s.dflt or f.seq is not null) then s.dflt
                   else s.maxv end as target
  from pin_steps s
  left join pin_firsts f on f.entity = s.entity and f.ver = s.dflt and (f.created_at, f.seq) <= (s.created_at, s.seq)
),
pinned_objs as (
  -- Another version's object changes only the highest version seen.
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at,
         (s.full and s.kept) or rb.obj is not null as full,
         case when s.kept then coalesce(rb.obj, s.obj) else '{}'::jsonb end
           || jsonb_build_object(%[5]s, s.dflt, %[6]s, s.maxv) as obj
  from (
    select s.*, s.ver is null or s.src = any (%[1]s) or s.ver = s.target as kept from pin_targets s
  ) s
  left join lateral (
    select %[7]s(x.obj order by x.created_at, x.seq) || s.obj as obj
    from (
      select h.created_at, h.seq from objs h
      where h.entity = s.entity and h.full and h.ver = s.target and (h.created_at, h.seq) < (s.created_at, s.seq)
      order by h.created_at desc, h.seq desc limit 1
    ) h
    join objs x on x.entity = s.entity and (x.created_at, x.seq) >= (h.created_at, h.seq)
      and (x.created_at, x.seq) < (s.created_at, s.seq) and (x.seq = h.seq or not x.full)
    where s.src = any (%[1]s)
  ) rb on true
),
`, ds, pgx.Identifier{g.p.Pin.Key}.Sanitize(), pgx.Identifier{g.p.Pin.DefaultColumn}.Sanitize(),
		pgx.Identifier{g.p.Pin.LatestColumn}.Sanitize(), orbsql.QuoteLiteral(g.p.Pin.DefaultColumn),
		orbsql.QuoteLiteral(g.p.Pin.LatestColumn), g.agg)
}

// pinStale narrows, for a pinned projection, the late events skipped as
// stale (b) to those of the version the row t shows: another version's
// object can change which version is shown.
func (g *sqlGen) pinStale() string {
	if g.p.Pin == nil {
		return ""
	}
	return fmt.Sprintf("\n      and (b.ver is null or b.ver = t.%s)", pgx.Identifier{g.p.Pin.Key}.Sanitize())
}

// pinShown carries, for a pinned projection, the version a row shows into
// the rows looked up for the stale check.
func (g *sqlGen) pinShown() string {
	if g.p.Pin == nil {
		return ""
	}
	return ", t." + pgx.Identifier{g.p.Pin.Key}.Sanitize()
}
