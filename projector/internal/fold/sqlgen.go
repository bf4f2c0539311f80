package fold

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// The SQL is generated from the Projection declarations rather than written
// per table because the rule must be one rule: live batches, late-event
// recomputes and rebuilds into a shadow table all run the statement built
// here, and the column list comes from the table itself (read at start), so
// a migration that adds a column named after an Orb field is filled without
// a code change. Names go through pgx.Identifier; the only literals are the
// catalog's own event types and keys, validated by Projection.validate.

// column is one column of a projection table, as read from pg_attribute.
type Column struct {
	Name      string
	Type      string
	Generated bool
}

// statements are one projection's SQL, generated for one target table.
type statements struct {
	// apply folds the events with seq in ($1, $2] into the table, and
	// recomputes from the whole log (seq <= $2) every entity whose batch
	// holds an event older than its row, plus the entity ids in $3. It
	// returns (events folded, rows written, entities recomputed).
	apply string
	// candidates lists the positions in ($1, $2] the projection reads, to
	// isolate a poison event by bisection.
	candidates string
	// entities maps positions ($1) to the entity ids they are about.
	entities string
	// sample returns the top-level keys of the newest object of each full
	// source in ($1, $2], to count fields that have no column.
	sample string
}

// sqlGen holds the names one projection's SQL is generated with.
type sqlGen struct {
	p       Projection
	schema  string
	events  string // <schema>.events
	dead    string // <schema>.dead_letters
	deadKey string // dead_letters.projection of the events this fold leaves out
	target  string // <schema>.<table>
	agg     string // <schema>.jsonb_merge_agg
	foldAgg string // <schema>.jsonb_fold_agg
	columns []Column
}

// newSQLGen generates SQL reading the log of schema and writing
// targetSchema.table; the events it leaves out are dead_letters under deadKey.
func newSQLGen(p Projection, schema, targetSchema, table, deadKey string, columns []Column) *sqlGen {
	return &sqlGen{
		p:       p,
		deadKey: deadKey,
		schema:  schema,
		events:  pgx.Identifier{schema, "events"}.Sanitize(),
		dead:    pgx.Identifier{schema, "dead_letters"}.Sanitize(),
		target:  pgx.Identifier{targetSchema, table}.Sanitize(),
		agg:     pgx.Identifier{schema, "jsonb_merge_agg"}.Sanitize(),
		foldAgg: pgx.Identifier{schema, "jsonb_fold_agg"}.Sanitize(),
		columns: columns,
	}
}

func (g *sqlGen) statements() statements {
	if g.p.History {
		return statements{
			apply:      g.historyApplySQL(),
			candidates: g.candidatesSQL(),
			entities:   g.entitiesSQL(),
			// Unknown fields are counted by the current-state projection.
		}
	}
	return statements{
		apply:      g.applySQL(),
		candidates: g.candidatesSQL(),
		entities:   g.entitiesSQL(),
		sample:     g.sampleSQL(),
	}
}

// applySQL builds the fold. Reading it top down:
//
//   - live: the batch's events per source, cheap columns only (position,
//     created_at, entity id, whether the object is full when the type
//     says), minus unresolved dead letters. Only ids taken from the object
//     read the payload here.
//   - cur: the provenance of each batch entity's row, one index lookup
//     each.
//   - late: entities with a batch event older than their row's provenance
//     (a late delivery), plus forced ones ($3). They are recomputed from
//     their whole history rather than folded onto the row.
//   - cand: the batch events of the other entities, plus every logged
//     event (seq <= $2) of the late ones, found by index.
//   - newest … windowed: per entity, the fold window is the newest full
//     object and everything after it (all events if none). Summary
//     objects are read to tell full from partial only where it matters.
//   - folded: the window's objects, shaped (partials keep only the keys
//     they may set), merged oldest to newest. Only here are payloads of
//     the winning events read.
//   - written: jsonb_populate_record(base, merged) maps keys to
//     same-named columns with their casts and keeps base for absent keys;
//     base is the current row, or NULL when the window starts with a full
//     object or the entity was recomputed. One write per entity.
func (g *sqlGen) applySQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "with ranked as materialized (\n%s\n),\n", g.batchRank())
	if g.p.Pin != nil {
		g.writePin(&b)
		fmt.Fprintf(&b, "live as materialized (\n  select b.* from ranked b left join pin p on p.entity = b.entity\n  where b.entity is not null and %s\n    and %s\n),\n",
			g.notDead("b.seq"), g.pinFilter("b", "p"))
	} else {
		fmt.Fprintf(&b, "live as materialized (\n  select b.* from ranked b\n  where b.entity is not null and %s\n),\n", g.notDead("b.seq"))
	}
	g.writeUnapplied(&b)
	// stale: late events that cannot change their row because the row was
	// last written by a full object newer than them (the fold starts at
	// the newest full object, so anything older is outside it). Without
	// this, every late delivery would recompute its entity from its whole
	// history, and a plan embedded in every subscription has a history as
	// long as the log. It holds (event, entity) pairs, not events: one
	// event may carry several entities (a plan's prices), late for some and
	// new for others, and the new ones must still be folded.
	fmt.Fprintf(&b, `cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq%[7]s
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq%[7]s from %[1]s t where t.%[2]s = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)%[6]s
    and exists (
      select 1 from (
%[3]s
      ) p
      where p.entity = b.entity and coalesce(p.full, %[4]s)
    )
),
late as materialized (
  select array(
    select b.entity from live b join cur t on t.entity = b.entity
    where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
      and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
    union
    select unnest($3::text[])%[5]s
  ) as ids
),
`, g.target, pgx.Identifier{g.p.Key}.Sanitize(), g.rankUnion("e.seq = t.last_event_seq", "", nil), g.fullProbe("p"), g.pinLate(), g.pinStale(), g.pinShown())
	g.writeCand(&b)
	// Most entities' newest event is a full object: the row is that
	// object, and nothing older matters. heads finds the newest event per
	// entity (reading a summary source's payload only for it); the window
	// machinery (deep) runs only for entities whose newest object is
	// partial, whose window reaches back to their newest full object.
	fmt.Fprintf(&b, `newest as (
  select distinct on (c.entity) c.*
  from cand c order by c.entity, c.created_at desc, c.seq desc
),
heads as materialized ( -- Materialized: the probe must run once per row.
  select n.*, coalesce(n.full, %[1]s) as head_full from newest n
),
deep as (
  select c.*, row_number() over (partition by c.entity order by c.created_at desc, c.seq desc) as rn
  from cand c join heads h on h.entity = c.entity and not h.head_full
),
deep_shaped as materialized (
  select d.seq, d.created_at, d.event_id, d.entity, d.src, d.relog, d.rn,
         coalesce(d.full, %[2]s) as full
  from deep d
),
windowed as (
  select h.seq, h.created_at, h.event_id, h.entity, h.src, h.relog, 1::bigint as rn, true as full, 1::bigint as wsize
  from heads h where h.head_full
  union all
  select d.*, coalesce(min(d.rn) filter (where d.full) over (partition by d.entity),
                       max(d.rn) over (partition by d.entity)) as wsize
  from deep_shaped d
),
`, g.fullProbe("n"), g.fullProbe("d"))
	fmt.Fprintf(&b, `folded as (
  select w.entity,
         %[1]s(y.obj order by w.created_at, w.seq) as obj,
         bool_or(w.full or w.relog) as reset,
         max(w.seq) filter (where w.rn = 1) as last_seq,
         max(w.event_id) filter (where w.rn = 1) as last_id,
         max(w.created_at) filter (where w.rn = 1) as last_at,
         -- Each object of a multi-event window must fit the row on its own:
         -- otherwise a bad value hidden by a later key would be dead-lettered
         -- or not depending on where batches happen to split.
         count(jsonb_populate_record(null::%[2]s, y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select %[5]s as obj
    from %[3]s e cross join lateral (select %[4]s as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
`, g.agg, g.target, g.events, g.objectCase(), g.integral(g.pinObject(g.shapeCase(), "w")))
	if g.p.Pin != nil {
		g.writeBumped(&b)
	}
	cols := g.writable()
	key := pgx.Identifier{g.p.Key}.Sanitize()
	var names, values, sets []string
	names = append(names, key)
	values = append(values, "f.entity")
	for _, c := range cols {
		id := pgx.Identifier{c.Name}.Sanitize()
		names = append(names, id)
		value := "r." + id
		if sql, ok := g.derived(c.Name); ok {
			value = sql
		} else if c.Type == "jsonb" {
			// An unchanged value is written as the stored datum, so
			// PostgreSQL keeps its TOAST pointer instead of compressing and
			// writing tens of KB again (a subscription edit re-sends the
			// whole plan and price intervals). Unchanged means the same
			// bytes (record_image_eq), not equal jsonb: jsonb equality
			// holds between 1.0 and 1.00, so a number spelled anew would
			// keep its old spelling here and not in a rebuild. Comparing
			// bytes is also about 4 times cheaper than walking both values
			// (measured on the recorded subscription); both must detoast
			// the stored one.
			value = fmt.Sprintf("case when record_image_eq(row(r.%[1]s), row(t.%[1]s)) then t.%[1]s else r.%[1]s end", id)
		}
		values = append(values, value)
		sets = append(sets, id+" = excluded."+id)
	}
	for _, c := range []struct{ name, value string }{
		{colLastEventID, "f.last_id"}, {colLastEventSeq, "f.last_seq"}, {colLastEventAt, "f.last_at"},
	} {
		id := pgx.Identifier{c.name}.Sanitize()
		names = append(names, id)
		values = append(values, c.value)
		sets = append(sets, id+" = excluded."+id)
	}
	fmt.Fprintf(&b, `written as (
  insert into %[1]s (%[2]s)
  select %[3]s
  from folded f
  left join %[1]s t on t.%[4]s = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t.%[4]s is null then null::%[1]s else %[7]s end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict (%[4]s) do update set %[5]s
  returning 1
)
select (%[6]s), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied)`,
		g.target, strings.Join(names, ", "), strings.Join(values, ", "), key, strings.Join(sets, ", "), g.liveCount(), g.baseRow("t"))
	return b.String()
}

// baseRow is the stored row alias as a record of the table, built from
// its columns. Not the whole-row reference: that is computed by the scan
// for every row, detoasting every TOASTed value (a subscription's plan and
// price intervals), while most windows start with a full object and never
// read it; the columns stay TOAST pointers until the CASE needs them.
func (g *sqlGen) baseRow(alias string) string {
	cols := make([]string, len(g.columns))
	for i, c := range g.columns {
		cols[i] = alias + "." + pgx.Identifier{c.Name}.Sanitize()
	}
	return fmt.Sprintf("row(%s)::%s", strings.Join(cols, ", "), g.target)
}

// writeUnapplied writes the unapplied CTE: an event whose entity cannot be
// found is set aside in dead_letters, where status and metrics show it,
// never skipped silently (embedded objects excepted: an event without one
// is not about this table).
func (g *sqlGen) writeUnapplied(b *strings.Builder) {
	fmt.Fprintf(b, `unapplied as (
  insert into %[1]s (projection, seq, event_id, event_type, error)
  select %[2]s, b.seq, b.event_id, e.type, %[6]s
  from ranked b join %[4]s e on e.seq = b.seq%[7]s
  where b.entity is null and b.src = any (%[5]s)
  on conflict (projection, seq) do nothing
  returning 1
),
`, g.dead, orbsql.QuoteLiteral(g.deadKey), orbsql.QuoteLiteral(g.p.Key), g.events, g.requiredSources(),
		g.unappliedReason(), g.unappliedObject())
}

// unappliedObject reads, for the events unapplied sets aside (and those
// only), the type of their object and the object's name (objectName).
func (g *sqlGen) unappliedObject() string {
	var objs, names strings.Builder
	for i, s := range g.p.Sources {
		if !s.Embedded {
			fmt.Fprintf(&objs, " when %d then %s", i, rankObject(s))
			fmt.Fprintf(&names, " when %d then %s", i, orbsql.QuoteLiteral(objectName(s)))
		}
	}
	if objs.Len() == 0 {
		return ""
	}
	return fmt.Sprintf("\n  cross join lateral (select jsonb_typeof(case b.src%s end) as t, case b.src%s end as name) x",
		objs.String(), names.String())
}

// unappliedReason is why the event of ranked row b names no entity: its
// object is missing or not an object (objectOnly), or it names no id.
func (g *sqlGen) unappliedReason() string {
	noID := "'the event names no ' || " + orbsql.QuoteLiteral(g.p.Key) + " || ' this projection can find'"
	if g.unappliedObject() == "" {
		return noID
	}
	return `case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else ` + noID + " end"
}

// objectKey is a key of a source's Object expression.
var objectKey = regexp.MustCompile(`'([a-z_]+)'`)

// objectName names a source's object in a dead letter: its keys in the
// payload, e.g. "customer" or "properties.balance_transaction".
func objectName(s Source) string {
	var keys []string
	for _, m := range objectKey.FindAllStringSubmatch(s.Object, -1) {
		keys = append(keys, m[1])
	}
	return strings.Join(keys, ".")
}

// requiredSources lists, as an SQL array, the sources whose events must
// name an entity.
func (g *sqlGen) requiredSources() string {
	var idx []string
	for i, s := range g.p.Sources {
		if !s.Embedded {
			idx = append(idx, fmt.Sprint(i))
		}
	}
	return "array[" + strings.Join(idx, ", ") + "]::int[]"
}

// derived returns the SQL of a derived column.
func (g *sqlGen) derived(name string) (string, bool) {
	for _, d := range g.p.Derived {
		if d.Column == name {
			return "(" + strings.ReplaceAll(d.SQL, "{{events}}", g.events) + ")", true
		}
	}
	return "", false
}

// integral wraps obj so that integral JSON numbers of any spelling (30.0,
// 3e1) fit the table's integer columns; a real fraction stays a data error.
func (g *sqlGen) integral(obj string) string {
	keys := g.integerKeys()
	if len(keys) == 0 {
		return obj
	}
	return fmt.Sprintf("%s(%s, %s)", pgx.Identifier{g.schema, "jsonb_integral"}.Sanitize(), obj, orbsql.TextArray(keys))
}

// integerKeys lists the writable columns of an integer type: the keys
// jsonb_integral may rewrite.
func (g *sqlGen) integerKeys() []string {
	var keys []string
	for _, c := range g.writable() {
		switch c.Type {
		case "integer", "bigint", "smallint":
			keys = append(keys, c.Name)
		}
	}
	return keys
}

// writable lists the columns taken from the object: all but the key, the
// provenance and generated columns.
func (g *sqlGen) writable() []Column {
	var out []Column
	for _, c := range g.columns {
		switch {
		case c.Generated, c.Name == g.p.Key,
			c.Name == colLastEventID, c.Name == colLastEventSeq, c.Name == colLastEventAt:
			continue
		}
		out = append(out, c)
	}
	return out
}

// rankUnion is one cheap-columns SELECT per source, UNION ALL'ed.
// where filters events; from adds to the FROM clause; lookup, when set,
// adds each source's entity lookup to where.
func (g *sqlGen) rankUnion(where, from string, lookup func(Source) string) string {
	parts := make([]string, len(g.p.Sources))
	for i, s := range g.p.Sources {
		w := where
		if lookup != nil {
			w += " and " + lookup(s)
		}
		parts[i] = g.rankSelect(i, s, w, from, "")
	}
	return strings.Join(parts, "\n    union all\n")
}

// pinLate adds, for a pinned projection, the entities whose batch names a
// new default: they are recomputed.
func (g *sqlGen) pinLate() string {
	if g.p.Pin == nil {
		return ""
	}
	return "\n    union\n    select p.entity from pin p where p.sets"
}

// writeCand writes cand: the batch's events of entities folded onto their
// row, and every logged event of the recomputed ones.
func (g *sqlGen) writeCand(b *strings.Builder) {
	if g.p.Pin == nil {
		fmt.Fprintf(b, `cand as (
  select b.seq, b.created_at, b.event_id, b.entity, b.full, b.src, false as relog
  from live b, late l
  where b.entity <> all (l.ids) and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
  union all
  select r.seq, r.created_at, r.event_id, r.entity, r.full, r.src, true
  from (
%s
  ) r
  where r.entity is not null and %s
),
`, g.rankUnion("e.seq <= $2", "cross join late l", g.lookupWhere), g.notDead("r.seq"))
		return
	}
	g.writeRelog(b)
	fmt.Fprintf(b, `cand as (
  select b.seq, b.created_at, b.event_id, b.entity, b.full, b.src, false as relog
  from live b, late l
  where b.entity <> all (l.ids) and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
  union all
  select r.seq, r.created_at, r.event_id, r.entity, r.full, r.src, true
  from relog r join relog_pin p on p.entity = r.entity
  where %s
),
`, g.pinFilter("r", "p"))
	g.writePinned(b)
}

// rankSelect ranks source i's events matching where; extraCols (", col
// as name"…) follow the ranked columns.
func (g *sqlGen) rankSelect(i int, s Source, where, from, extraCols string) string {
	lateral := sourceFrom(s)
	if s.Each != "" {
		where += fanWhere(s)
	}
	if from != "" {
		from = " " + from
	}
	return fmt.Sprintf(`    select e.seq, e.created_at, e.event_id, %s as entity, %s as full, %d as src%s%s
    from %s e%s%s
    where %s and e.type = any (%s)`,
		g.rankID(s), rankFull(s), i, g.rankVer(s), extraCols, g.events, from, lateral, where, orbsql.TextArray(s.Types))
}

// needsObject reports whether ranking must read the payload: to find the
// id inside the object, to resolve it, or to check that it is an object
// (see objectOnly).
func needsObject(s Source) bool {
	return !s.Embedded || s.IDKey != "" || s.Resolve != "" || s.Versioned || strings.Contains(s.IDSuffix, "{{obj}}")
}

// rankID is the entity id while ranking, from the object read once.
func (g *sqlGen) rankID(s Source) string {
	return objectOnly(s, withSuffix(s, g.withResolve(s, baseID(s, "o.o"), "o.o"), "o.o"), "o.o")
}

// objectOnly makes id NULL when obj, the object of an event of a source
// that is not Embedded, is not a JSON object: a bare id, a number, an
// array, null. Orb sends a bare id only for invoice.cost_data_exported,
// which no table reads; anything else is malformed. Folded, such an
// object would be shaped to {} and, from a full source, blank the row
// (every column NULL) and give the history a blank version; from a
// partial one it would only move the row's provenance. Naming no entity,
// the event goes to dead_letters (unapplied) with the object's type, in
// the current fold and the history, live, recomputed and rebuilt alike;
// and since late-event recomputes rank the same way, an event set aside
// is never folded, even once its dead letter is retried. An embedded
// object (a subscription's customer) that is not an object is only no
// news for its table, as before.
func objectOnly(s Source, id, obj string) string {
	if s.Embedded {
		return id
	}
	return fmt.Sprintf("case when jsonb_typeof(%s) = 'object' then %s end", obj, id)
}

// withSuffix appends the source's IDSuffix to the id, obj being its object.
func withSuffix(s Source, id, obj string) string {
	if s.IDSuffix == "" {
		return id
	}
	return fmt.Sprintf("(%s) || '@' || (%s)", id, strings.ReplaceAll(s.IDSuffix, "{{obj}}", obj))
}

// baseID is the id an event names directly, obj being its object.
func baseID(s Source, obj string) string {
	switch {
	case s.IDKey != "":
		return stringID(obj, s.IDKey)
	case s.IDColumn == IDEvent:
		return "e.event_id"
	}
	return "e.resource_id"
}

// stringID is the entity id under key in obj: a non-empty JSON string,
// as the log's resource_id is (eventlog takes only those). Orb's ids are
// opaque strings (FACTS.md); an object whose id is anything else (a
// number, an array, an object) is not an entity of the table, in the
// current fold and the history alike: ->> alone would name it by its
// JSON text, which no item's id equals when the fold looks its object up
// by id. An embedded object is then no news for the table; an event of a
// source that must name an entity goes to dead_letters (unapplied).
func stringID(obj, key string) string {
	return fmt.Sprintf("case when jsonb_typeof(%[1]s -> %[2]s) = 'string' then nullif(%[1]s ->> %[2]s, '') end",
		obj, orbsql.QuoteLiteral(key))
}

// withResolve falls back to the source's Resolve expression when the event
// names no id.
func (g *sqlGen) withResolve(s Source, id, obj string) string {
	if s.Resolve == "" {
		return id
	}
	r := strings.NewReplacer("{{obj}}", obj, "{{schema}}", pgx.Identifier{g.schema}.Sanitize()).Replace(s.Resolve)
	return fmt.Sprintf("coalesce(%s, %s)", id, r)
}

// rankFull is whether the object is full, while ranking: known from the
// shape, or from the object when ranking reads it anyway; NULL when only
// reading the payload can tell (see fullProbe).
func rankFull(s Source) string {
	switch {
	case s.Shape == Full:
		return "true"
	case s.Shape == Summary && needsObject(s):
		return fmt.Sprintf("coalesce(o.o ? %s, false)", orbsql.QuoteLiteral(s.FullKey))
	case s.Shape == Summary:
		return "null::boolean"
	}
	return "false"
}

// fullProbe reads, for the row aliased alias, whether its summary-source
// object is full: from refs for a Refs source, as ranking reads it.
func (g *sqlGen) fullProbe(alias string) string {
	var whens []string
	for i, s := range g.p.Sources {
		if s.Shape == Summary && !needsObject(s) {
			whens = append(whens, fmt.Sprintf("when %d then (select coalesce((%s) ? %s, false) from %s e where e.seq = %s.seq)",
				i, rankObject(s), orbsql.QuoteLiteral(s.FullKey), g.events, alias))
		}
	}
	if len(whens) == 0 {
		return "false"
	}
	return fmt.Sprintf("case %s.src %s else false end", alias, strings.Join(whens, " "))
}

// lookupExpr is the id an event names directly, as an expression over e
// alone. It must match an index on events (resource_id, event_id, or an
// expression index in the migration) because late-event recomputes look
// entities up by it. A Refs source's id is read as ranking reads it, from
// events.refs where the row has them: the indexes over a subscription's
// embedded objects are built on that expression (migration 021), not on
// the ~54 KB payload.
func lookupExpr(s Source) string {
	if s.Each != "" {
		return fanIDs(s)
	}
	if s.IDKey != "" {
		return fmt.Sprintf("((%s) ->> %s)", rankObject(s), orbsql.QuoteLiteral(s.IDKey))
	}
	return baseID(s, "")
}

// entityExpr is the entity id over e alone, resolved where the source
// resolves; none where ranking finds none (objectOnly).
func (g *sqlGen) entityExpr(s Source) string {
	id := lookupExpr(s)
	if s.IDKey != "" {
		id = stringID("("+rankObject(s)+")", s.IDKey)
	}
	id = withSuffix(s, g.withResolve(s, id, "("+s.Object+")"), "("+s.Object+")")
	return objectOnly(s, id, "("+rankObject(s)+")")
}

// lookupWhere finds the late entities' events; IS NOT NULL matches the
// partial expression indexes' predicate. Events resolved by another
// table are found among those naming no id (by the same index).
func (g *sqlGen) lookupWhere(s Source) string {
	if s.Each != "" {
		return fanLookup(s)
	}
	id := lookupExpr(s)
	if s.IDSuffix != "" {
		// By the id before the "@" (indexed), then the whole id.
		return fmt.Sprintf("%[1]s = any (array(select split_part(x, '@', 1) from unnest(l.ids) x)) and %[1]s is not null and %[2]s = any (l.ids)",
			id, g.entityExpr(s))
	}
	direct := fmt.Sprintf("%s = any (l.ids) and %s is not null", id, id)
	if s.Resolve == "" {
		return direct
	}
	return fmt.Sprintf("((%s) or (%s is null and %s = any (l.ids)))", direct, id, g.entityExpr(s))
}

func (g *sqlGen) notDead(seq string) string {
	return fmt.Sprintf("not exists (select from %s d where d.projection = %s and d.seq = %s and d.resolved_at is null)",
		g.dead, orbsql.QuoteLiteral(g.deadKey), seq)
}

// objectCase reads the winning events' objects, each once.
func (g *sqlGen) objectCase() string {
	var b strings.Builder
	b.WriteString("case w.src")
	for i, s := range g.p.Sources {
		obj := s.Object
		if s.Each != "" {
			obj = fanObject(s, "w.entity")
		}
		fmt.Fprintf(&b, " when %d then (%s)", i, obj)
	}
	b.WriteString(" end")
	return b.String()
}

// shapeCase keeps, of each object x.o, the keys its shape may set, and
// merges the source's Extra over it.
func (g *sqlGen) shapeCase() string { return g.shapeCaseFor("w.full") }

// shapeCaseFor is shapeCase with full the expression telling whether a
// summary object is full.
func (g *sqlGen) shapeCaseFor(full string) string {
	var b strings.Builder
	b.WriteString("case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb")
	for i, s := range g.p.Sources {
		obj := "x.o"
		switch s.Shape {
		case Partial:
			obj = partialExpr(s)
		case Summary:
			obj = partialExpr(s)
		}
		if s.Extra != "" {
			obj = fmt.Sprintf("(%s) || coalesce(%s, '{}'::jsonb)", obj, s.Extra)
		}
		if s.Shape == Summary {
			obj = fmt.Sprintf("case when %s then x.o else %s end", full, obj)
		}
		fmt.Fprintf(&b, "\n      when w.src = %d then %s", i, obj)
	}
	b.WriteString(" end")
	return b.String()
}

func partialExpr(s Source) string {
	switch {
	case len(s.Omit) > 0:
		return fmt.Sprintf("x.o - %s", orbsql.TextArray(s.Omit))
	case len(s.Allow) > 0:
		parts := make([]string, len(s.Allow))
		for i, k := range s.Allow {
			parts[i] = fmt.Sprintf("case when x.o ? %[1]s then jsonb_build_object(%[1]s, x.o -> %[1]s) else '{}'::jsonb end", orbsql.QuoteLiteral(k))
		}
		return "(" + strings.Join(parts, " || ") + ")"
	}
	return "x.o"
}

func (g *sqlGen) candidatesSQL() string {
	return fmt.Sprintf(`select e.seq from %s e
where e.seq > $1 and e.seq <= $2 and e.type = any (%s) and %s
order by e.seq`, g.events, orbsql.TextArray(g.p.Types()), g.notDead("e.seq"))
}

func (g *sqlGen) entitiesSQL() string {
	parts := make([]string, len(g.p.Sources))
	for i, s := range g.p.Sources {
		if s.Each != "" {
			parts[i] = fmt.Sprintf("  select %s as entity from %s e%s where e.seq = any ($1::bigint[]) and e.type = any (%s)%s",
				stringID("o.o", s.IDKey), g.events, fanFrom(s), orbsql.TextArray(s.Types), fanWhere(s))
			continue
		}
		parts[i] = fmt.Sprintf("  select %s as entity from %s e where e.seq = any ($1::bigint[]) and e.type = any (%s)",
			g.entityExpr(s), g.events, orbsql.TextArray(s.Types))
	}
	return fmt.Sprintf("select distinct x.entity from (\n%s\n) x where x.entity is not null", strings.Join(parts, "\n  union all\n"))
}

func (g *sqlGen) sampleSQL() string {
	var parts []string
	for _, s := range g.p.Sources {
		if s.Shape == Partial {
			continue // Partial objects are cut down on purpose.
		}
		obj := s.Object
		if s.Each != "" {
			obj = fmt.Sprintf("jsonb_path_query_first(%s, %s)", s.Object, orbsql.QuoteLiteral(s.Each))
		}
		parts = append(parts, fmt.Sprintf(`  select jsonb_object_keys(x.o) as k from (
    select (%[1]s) as o from %[2]s e
    where e.seq = (select max(e2.seq) from %[2]s e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (%[3]s))
  ) x where jsonb_typeof(x.o) = 'object'`, obj, g.events, orbsql.TextArray(s.Types)))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("select distinct u.k from (\n%s\n) u", strings.Join(parts, "\n  union all\n"))
}
