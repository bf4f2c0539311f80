package fold

import (
	"fmt"
	"strings"
)

// The history fold's repeated embedded objects found from events.refs
// (Source.RepeatKey without Each): a subscription's customer and plan come
// in every subscription event, nearly always unchanged, and comparing
// each with the one before it read the ~54 KB payload. Refs give each
// such object's key (its fingerprint, migration 025) while ranking, from
// the refs ranking reads anyway:
//
//   - ranked, cand carry key: the key of a keyed source's full object
//     whose refs have one, NULL for every other row.
//   - read leaves the payload of a keyed row unread (its obj is empty).
//   - objs calls a keyed row repeated when its key and source are those
//     of the row before it (rows without keys compare their objects, as
//     before; a keyed row never repeats a row without one), and reads
//     the payload of the keyed rows it keeps, usually few.

// embeddedKeyed lists the sources whose repeated full objects the history
// fold finds by their keys from refs.
func (g *sqlGen) embeddedKeyed() []int {
	if !g.p.History {
		return nil
	}
	var out []int
	for i, s := range g.p.Sources {
		if s.Each == "" && s.RepeatKey != "" {
			out = append(out, i)
		}
	}
	return out
}

// historyRankUnion is rankUnion for the history fold: with each row's key
// when the projection has keyed sources.
func (g *sqlGen) historyRankUnion(where, from string, lookup func(Source) string) string {
	parts := make([]string, len(g.p.Sources))
	for i, s := range g.p.Sources {
		w := where
		if lookup != nil {
			w += " and " + lookup(s)
		}
		parts[i] = g.rankSelect(i, s, w, from, g.rankKey(i, s))
	}
	return strings.Join(parts, "\n    union all\n")
}

// rankKey is the key column of source i while ranking: its RepeatKey over
// the object ranking read (o.o), for a full object read from refs (a row
// without refs reads its object from the payload, which may hold
// anything), else NULL.
func (g *sqlGen) rankKey(i int, s Source) string {
	keyed := g.embeddedKeyed()
	switch {
	case len(keyed) == 0:
		return ""
	case s.Each != "" || s.RepeatKey == "":
		return ", null::text as key"
	}
	return fmt.Sprintf(", case when e.refs is not null and %s then (%s) end as key",
		rankFull(s), strings.ReplaceAll(s.RepeatKey, "{{refs}}", "o.o"))
}

// keyCol is the key column of rows aliased alias, for a projection with
// keyed sources.
func (g *sqlGen) keyCol(alias string) string {
	if len(g.embeddedKeyed()) == 0 {
		return ""
	}
	return ", " + alias + ".key"
}

// readKeyCols are read's columns for keyed sources: each row's key, and
// its source (a pinned projection's read carries it already).
func (g *sqlGen) readKeyCols() string {
	if len(g.embeddedKeyed()) == 0 {
		return ""
	}
	if g.p.Pin != nil {
		return ", w.key"
	}
	return ", w.key, w.src"
}

// readPayload is the payload read reads of an event: not that of a keyed
// row, whose object is read only if objs keeps it.
func (g *sqlGen) readPayload() string {
	if len(g.embeddedKeyed()) == 0 {
		return "v.payload || '{}'::jsonb"
	}
	return "case when w.key is null then v.payload || '{}'::jsonb end"
}

// readEqual is the condition, on o and the row before it in window w,
// that their objects as read are equal: by key and source where either
// has a key, else by the objects.
func (g *sqlGen) readEqual() string {
	byObject := objectsEqual()
	if len(g.embeddedKeyed()) == 0 {
		return byObject
	}
	return fmt.Sprintf(`(case when o.key is not null or lag(o.key) over w is not null
      then o.key = lag(o.key) over w and o.src = lag(o.src) over w
      else %s end)`, byObject)
}

// objectsEqual is the condition, on o and the row before it in window w,
// that their objects are equal (as jsonb; the same bytes first, cheaply).
func objectsEqual() string {
	return "(" + sameImage("row(o.obj)", "row(lag(o.obj) over w)") + " or o.obj = lag(o.obj) over w)"
}

// keyedObjsCTE is objs for a projection with keyed sources: the rows read
// less the repeated ones, with the objects of the keyed rows kept read
// from their payload, in the order read gave them.
//
// Equal keys mean the same bytes, but different keys can still be equal
// objects (1.0 and 1.00; a keyed object after an equal one from another
// source, or from a row without a key): the objects kept are compared
// once more, as the payload path compares them, so that the one it
// would skip is skipped here too, and a later partial object merges onto
// the same bytes. A row left out by key is equal to the kept one before
// it, so comparing each kept row with the kept one before it is
// comparing it with the row before it.
func (g *sqlGen) keyedObjsCTE() string {
	cols := strings.ReplaceAll(g.objsPinCols()+g.readKeyCols(), "w.", "o.")
	return g.keyedCTE() + fmt.Sprintf(`objs as (
  -- The rows kept, compared as objects once the keyed ones are read: one
  -- equal to the one before it (from another source, without a key, or
  -- equal as jsonb in other bytes) is left out, as the payload path
  -- leaves it out.
  select o.entity, o.seq, o.created_at, o.lf_seq, o.lf_at, o.event_id, o.type, o.source, o.full,
         o.obj%[1]s, o.repeated
  from (
    select o.*, %[2]s as again
    from keyed o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.again
),
`, cols, g.repeatedPinned(objectsEqual()))
}

// keyedCTE is keyedObjsCTE's first step: the rows read less those
// repeated by key (or, without keys, by object), the payloads of the
// keyed ones kept read.
func (g *sqlGen) keyedCTE() string {
	return fmt.Sprintf(`keyed as (
  -- A full object equal to the full object just before it cannot change
  -- the state (a plan or customer embedded unchanged in every
  -- subscription event): it is left out before anything else, and only
  -- counts as folded (lf_seq, lf_at: the entity's newest event). A keyed
  -- object (key: its fingerprint from refs) is compared by key, and
  -- read from the payload only if kept.
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, w.event_id, w.type, w.source, w.full,
         coalesce(y.obj, w.obj) as obj%[1]s%[2]s, w.repeated
  from (
    select o.*, %[3]s as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) w
  left join lateral (
    select %[4]s as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from %[5]s v where v.seq = w.seq and w.key is not null offset 0
    ) e
    cross join lateral (select %[6]s as o offset 0) x
    cross join lateral (select coalesce(w.full, %[7]s) as full) f
    cross join lateral (select %[8]s as s offset 0) sh
    offset 0
  ) y on true
  where not w.repeated
),
`, g.objsPinCols(), g.readKeyCols(), g.repeatedRead(), g.integralOf("sh.s"), g.events, g.objectCase(),
		g.fullFromObject("x.o"), g.shapeCaseFor("f.full"))
}
