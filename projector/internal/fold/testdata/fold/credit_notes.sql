-- Projection credit_notes (version 2) into orb.credit_notes: generated from the catalog
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
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'credit_notes', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."credit_notes" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'credit_note' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
      ) p
      where p.entity = b.entity and coalesce(p.full, false)
    )
),
late as materialized (
  select array(
    select b.entity from live b join cur t on t.entity = b.entity
    where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
      and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
    union
    select unnest($3::text[])
  ) as ids
),
cand as (
  select b.seq, b.created_at, b.event_id, b.entity, b.full, b.src, false as relog
  from live b, late l
  where b.entity <> all (l.ids) and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
  union all
  select r.seq, r.created_at, r.event_id, r.entity, r.full, r.src, true
  from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'credit_note' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes' and d.seq = r.seq and d.resolved_at is null)
),
newest as (
  select distinct on (c.entity) c.*
  from cand c order by c.entity, c.created_at desc, c.seq desc
),
heads as materialized ( -- Materialized: the probe must run once per row.
  select n.*, coalesce(n.full, false) as head_full from newest n
),
deep as (
  select c.*, row_number() over (partition by c.entity order by c.created_at desc, c.seq desc) as rn
  from cand c join heads h on h.entity = c.entity and not h.head_full
),
deep_shaped as materialized (
  select d.seq, d.created_at, d.event_id, d.entity, d.src, d.relog, d.rn,
         coalesce(d.full, false) as full
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
folded as (
  select w.entity,
         "orb"."jsonb_merge_agg"(y.obj order by w.created_at, w.seq) as obj,
         bool_or(w.full or w.relog) as reset,
         max(w.seq) filter (where w.rn = 1) as last_seq,
         max(w.event_id) filter (where w.rn = 1) as last_id,
         max(w.created_at) filter (where w.rn = 1) as last_at,
         -- Each object of a multi-event window must fit the row on its own:
         -- otherwise a bad value hidden by a later key would be dead-lettered
         -- or not depending on where batches happen to split.
         count(jsonb_populate_record(null::"orb"."credit_notes", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then x.o end as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'credit_note') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."credit_notes" ("id", "created_at", "credit_note_number", "credit_note_pdf", "customer", "discounts", "invoice_id", "line_items", "maximum_amount_adjustment", "memo", "minimum_amount_refunded", "reason", "subtotal", "total", "type", "voided_at", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."created_at", r."credit_note_number", r."credit_note_pdf", case when record_image_eq(row(r."customer"), row(t."customer")) then t."customer" else r."customer" end, case when record_image_eq(row(r."discounts"), row(t."discounts")) then t."discounts" else r."discounts" end, r."invoice_id", case when record_image_eq(row(r."line_items"), row(t."line_items")) then t."line_items" else r."line_items" end, case when record_image_eq(row(r."maximum_amount_adjustment"), row(t."maximum_amount_adjustment")) then t."maximum_amount_adjustment" else r."maximum_amount_adjustment" end, r."memo", r."minimum_amount_refunded", r."reason", r."subtotal", r."total", r."type", r."voided_at", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."credit_notes" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."credit_notes" else row(t."id", t."created_at", t."credit_note_number", t."credit_note_pdf", t."customer", t."discounts", t."invoice_id", t."line_items", t."maximum_amount_adjustment", t."memo", t."minimum_amount_refunded", t."reason", t."subtotal", t."total", t."type", t."voided_at", t."customer_id", t."external_customer_id", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."credit_notes" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "created_at" = excluded."created_at", "credit_note_number" = excluded."credit_note_number", "credit_note_pdf" = excluded."credit_note_pdf", "customer" = excluded."customer", "discounts" = excluded."discounts", "invoice_id" = excluded."invoice_id", "line_items" = excluded."line_items", "maximum_amount_adjustment" = excluded."maximum_amount_adjustment", "memo" = excluded."memo", "minimum_amount_refunded" = excluded."minimum_amount_refunded", "reason" = excluded."reason", "subtotal" = excluded."subtotal", "total" = excluded."total", "type" = excluded."type", "voided_at" = excluded."voided_at", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'credit_notes' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'credit_note')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'credit_note') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'credit_note.issued', 'credit_note.marked_as_void', 'snapshot.credit_note']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
