-- Projection accounting_sync (version 2) into orb.accounting_sync: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'accounting_sync' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'accounting_sync', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'object_id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then e.payload -> 'properties' end) as t, case b.src when 0 then 'properties' end as name) x
  where b.entity is null and b.src = any (array[0]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."accounting_sync" t where t."object_id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[])
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
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'accounting_sync' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."accounting_sync", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o) || coalesce(jsonb_build_object(
	'object_type', split_part(e.type, '.', 1),
	'status', case when e.type like '%\_succeeded' then 'succeeded' else 'failed' end,
	'provider', x.o -> 'connection_type',
	'customer_id', e.payload #> '{accounting_sync_record,customer_id}',
	'accounting_sync_record', e.payload -> 'accounting_sync_record',
	'last_event_type', e.type), '{}'::jsonb) end as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'properties') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."accounting_sync" ("object_id", "object_type", "status", "provider", "failure_reason", "customer_id", "accounting_sync_record", "last_event_type", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."object_type", r."status", r."provider", r."failure_reason", r."customer_id", case when record_image_eq(row(r."accounting_sync_record"), row(t."accounting_sync_record")) then t."accounting_sync_record" else r."accounting_sync_record" end, r."last_event_type", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."accounting_sync" t on t."object_id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."object_id" is null then null::"orb"."accounting_sync" else row(t."object_id", t."object_type", t."status", t."provider", t."failure_reason", t."customer_id", t."accounting_sync_record", t."last_event_type", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."accounting_sync" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("object_id") do update set "object_type" = excluded."object_type", "status" = excluded."status", "provider" = excluded."provider", "failure_reason" = excluded."failure_reason", "customer_id" = excluded."customer_id", "accounting_sync_record" = excluded."accounting_sync_record", "last_event_type" = excluded."last_event_type", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'accounting_sync' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'properties')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'properties') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['credit_block.accounting_sync_failed', 'credit_block.accounting_sync_succeeded', 'credit_note.accounting_sync_failed', 'credit_note.accounting_sync_succeeded', 'customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'transaction.accounting_sync_failed', 'transaction.accounting_sync_succeeded']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
