-- Projection credit_notes_history (version 2) into orb.credit_notes_history: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'credit_note' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'credit_notes_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then e.payload -> 'credit_note' end) as t, case b.src when 0 then 'credit_note' end as name) x
  where b.entity is null and b.src = any (array[0]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."credit_notes_history" v
    where v."id" = c.entity
    order by v.valid_from desc, v.last_event_seq desc
    limit 1
  ) h
),
late as materialized (
  select array(
    select b.entity from live b join cur h on h.entity = b.entity
    where (b.created_at, b.seq) < (h.folded_at, h.folded_seq)
    union
    select unnest($3::text[])
  ) as ids
),
cand as (
  select b.seq, b.created_at, b.entity, b.full, b.src from live b, late l where b.entity <> all (l.ids)
  union all
  select r.seq, r.created_at, r.entity, r.full, r.src
  from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'credit_note' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes_history' and d.seq = r.seq and d.resolved_at is null)
),
base as materialized (
  select h.entity, h.row, h.tid from cur h, late l where h.entity <> all (l.ids)
),
cand_lf as (
  -- Each entity's newest event (lf_seq, lf_at: what its current version
  -- records as folded), while the rows carry no object: a window to the
  -- partition's end over the objects would keep them all at once (a plan
  -- in every subscription event), spilling to disk and reading it back
  -- once per row.
  select c.*, last_value(c.seq) over wl as lf_seq, last_value(c.created_at) over wl as lf_at
  from cand c
  window wl as (partition by c.entity order by c.created_at, c.seq rows between unbounded preceding and unbounded following)
),
read as (
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, y.event_id, y.type, y.source, y.full, y.obj
  -- Sorted before the objects are read, in the order of every window
  -- after: objects (a plan in every subscription event) are never sorted.
  from (select c.* from cand_lf c order by c.entity, c.created_at, c.seq) w
  -- One index lookup per event, decompressing its payload once (||
  -- returns it detoasted): the object and the sources' Extra read it.
  cross join lateral (
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'credit_note') end as o offset 0) x
    cross join lateral (select coalesce(w.full, false) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then x.o end as s offset 0) sh
    where e.seq = w.seq
    offset 0
  ) y
),
objs as (
  -- A full object equal to the full object just before it cannot change
  -- the state (a plan embedded unchanged in every subscription event): it
  -- is left out before anything else, and only counts as folded (lf_seq,
  -- lf_at: the entity's newest event).
  select o.* from (
    select o.*, coalesce(o.full and lag(o.full) over w and (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w), false) as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.repeated
),
folds as (
  -- Every window from here on is w, one order: the rows are sorted once,
  -- while they carry only their objects, and never again.
  select o.entity, o.seq, o.created_at, o.event_id, o.type, o.source, o.lf_seq, o.lf_at, b.entity is not null as has_base, b.row as base, b.tid as base_tid,
         -- A full object starts the fold anew (the base is left out from
         -- the first one on).
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."credit_notes_history" else b.row end,
           case when coalesce(o.full, false) and o.seq = o.lf_seq then coalesce(o.obj, '{}'::jsonb)
             else coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) filter (where not (coalesce(o.full, false) and o.seq = o.lf_seq)) over w, '{}'::jsonb) end) as r0
  from objs o
  left join base b on b.entity = o.entity
  where not o.repeated
  window w as (partition by o.entity order by o.created_at, o.seq)
),
states as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r0 as r from folds s
  -- In folds' order, said again: without an order of its own this level
  -- forgets it, and marked's window sorted every state (whole rows, a
  -- subscription's ~50 KB each) once more, spilling to disk.
  order by s.entity, s.created_at, s.seq
  offset 0 -- Each state computed once: marked's lag(s.r) would compute it again.
),
marked as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r,
         case when s.prev_seq is null then not s.has_base or ((s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."credit_note_number" is distinct from (s.base)."credit_note_number" or (s.r)."credit_note_pdf" is distinct from (s.base)."credit_note_pdf" or (s.r)."invoice_id" is distinct from (s.base)."invoice_id" or (s.r)."memo" is distinct from (s.base)."memo" or (s.r)."minimum_amount_refunded" is distinct from (s.base)."minimum_amount_refunded" or (s.r)."reason" is distinct from (s.base)."reason" or (s.r)."subtotal" is distinct from (s.base)."subtotal" or (s.r)."total" is distinct from (s.base)."total" or (s.r)."type" is distinct from (s.base)."type" or (s.r)."voided_at" is distinct from (s.base)."voided_at" or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.base)."customer")) and (s.r)."customer" is distinct from (s.base)."customer") or (not pg_catalog.record_image_eq(row((s.r)."discounts"), row((s.base)."discounts")) and (s.r)."discounts" is distinct from (s.base)."discounts") or (not pg_catalog.record_image_eq(row((s.r)."line_items"), row((s.base)."line_items")) and (s.r)."line_items" is distinct from (s.base)."line_items") or (not pg_catalog.record_image_eq(row((s.r)."maximum_amount_adjustment"), row((s.base)."maximum_amount_adjustment")) and (s.r)."maximum_amount_adjustment" is distinct from (s.base)."maximum_amount_adjustment")) else ((s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."credit_note_number" is distinct from (s.prev)."credit_note_number" or (s.r)."credit_note_pdf" is distinct from (s.prev)."credit_note_pdf" or (s.r)."invoice_id" is distinct from (s.prev)."invoice_id" or (s.r)."memo" is distinct from (s.prev)."memo" or (s.r)."minimum_amount_refunded" is distinct from (s.prev)."minimum_amount_refunded" or (s.r)."reason" is distinct from (s.prev)."reason" or (s.r)."subtotal" is distinct from (s.prev)."subtotal" or (s.r)."total" is distinct from (s.prev)."total" or (s.r)."type" is distinct from (s.prev)."type" or (s.r)."voided_at" is distinct from (s.prev)."voided_at" or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.prev)."customer")) and (s.r)."customer" is distinct from (s.prev)."customer") or (not pg_catalog.record_image_eq(row((s.r)."discounts"), row((s.prev)."discounts")) and (s.r)."discounts" is distinct from (s.prev)."discounts") or (not pg_catalog.record_image_eq(row((s.r)."line_items"), row((s.prev)."line_items")) and (s.r)."line_items" is distinct from (s.prev)."line_items") or (not pg_catalog.record_image_eq(row((s.r)."maximum_amount_adjustment"), row((s.prev)."maximum_amount_adjustment")) and (s.r)."maximum_amount_adjustment" is distinct from (s.prev)."maximum_amount_adjustment")) end as changed
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
                when m.has_base then row(
                  (m.r)."id",
                  (m.r)."created_at",
                  (m.r)."credit_note_number",
                  (m.r)."credit_note_pdf",
                  case when pg_catalog.record_image_eq(row((m.r)."customer"), row((m.base)."customer")) then (m.base)."customer" else (m.r)."customer" end,
                  case when pg_catalog.record_image_eq(row((m.r)."discounts"), row((m.base)."discounts")) then (m.base)."discounts" else (m.r)."discounts" end,
                  (m.r)."invoice_id",
                  case when pg_catalog.record_image_eq(row((m.r)."line_items"), row((m.base)."line_items")) then (m.base)."line_items" else (m.r)."line_items" end,
                  case when pg_catalog.record_image_eq(row((m.r)."maximum_amount_adjustment"), row((m.base)."maximum_amount_adjustment")) then (m.base)."maximum_amount_adjustment" else (m.r)."maximum_amount_adjustment" end,
                  (m.r)."memo",
                  (m.r)."minimum_amount_refunded",
                  (m.r)."reason",
                  (m.r)."subtotal",
                  (m.r)."total",
                  (m.r)."type",
                  (m.r)."voided_at",
                  (m.r)."customer_id",
                  (m.r)."external_customer_id",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at"
                )::"orb"."credit_notes_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."credit_notes_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."credit_notes_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
    and h."id" = v.entity and h.valid_from = v.base_from and h.last_event_seq = v.base_seq
  returning 1
),
written as (
  insert into "orb"."credit_notes_history" ("id", "created_at", "credit_note_number", "credit_note_pdf", "customer", "discounts", "invoice_id", "line_items", "maximum_amount_adjustment", "memo", "minimum_amount_refunded", "reason", "subtotal", "total", "type", "voided_at", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."created_at", (v.r)."credit_note_number", (v.r)."credit_note_pdf", (v.r)."customer", (v.r)."discounts", (v.r)."invoice_id", (v.r)."line_items", (v.r)."maximum_amount_adjustment", (v.r)."memo", (v.r)."minimum_amount_refunded", (v.r)."reason", (v.r)."subtotal", (v.r)."total", (v.r)."type", (v.r)."voided_at", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes_history' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'credit_note')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
-- (none)
