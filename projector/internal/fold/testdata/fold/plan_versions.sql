-- Projection plan_versions (version 2) into orb.plan_versions: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, k.entity, true as full, 0 as src,
           case when w.newest then k.cnt else 0 end as n
    from (
      select (case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, count(*) as cnt,
             max(array[extract(epoch from e.created_at), e.seq]) as hi,
             min(array[extract(epoch from e.created_at), e.seq]) as lo
      from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
      where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'plan_versions' and d.seq = e.seq and d.resolved_at is null)
      group by 1
    ) k
    cross join lateral (values (k.hi[2]::bigint, true), (k.lo[2]::bigint, false)) w(seq, newest)
    -- One index lookup per kept event (a join could be planned as a scan
    -- of the whole log).
    cross join lateral (select e.seq, e.created_at, e.event_id from "orb"."events" e where e.seq = w.seq offset 0) e
    where w.newest or k.cnt > 1
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, true as full, 1 as src, 1::bigint as n
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || ((e.payload -> 'properties' ->> 'plan_version_number')) as entity, false as full, 2 as src, 1::bigint as n
    from "orb"."events" e
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['plan.version_created']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plan_versions' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'plan_versions', b.seq, b.event_id, e.type, 'the event names no ' || 'version_key' || ' this projection can find'
  from ranked b join "orb"."events" e on e.seq = b.seq
  where b.entity is null and b.src = any (array[]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."plan_versions" t where t."version_key" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, (case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, true as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || ((e.payload -> 'properties' ->> 'plan_version_number')) as entity, false as full, 2 as src
    from "orb"."events" e
    where e.seq = t.last_event_seq and e.type = any (array['plan.version_created']::text[])
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
    select e.seq, e.created_at, e.event_id, (case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, true as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') = any (array(select split_part(x, '@', 1) from unnest(l.ids) x)) and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') is not null and (case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') -> 'id') = 'string' then nullif((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id', '') end) || '@' || (case when (e.payload -> 'subscription' -> 'plan') ? 'prices' then (e.payload -> 'subscription' -> 'plan') ->> 'version' end) = any (l.ids) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || (case when o.o ? 'prices' then o.o ->> 'version' end) as entity, true as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (array(select split_part(x, '@', 1) from unnest(l.ids) x)) and e.resource_id is not null and (e.resource_id) || '@' || (case when (e.payload -> 'plan') ? 'prices' then (e.payload -> 'plan') ->> 'version' end) = any (l.ids) and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, (e.resource_id) || '@' || ((e.payload -> 'properties' ->> 'plan_version_number')) as entity, false as full, 2 as src
    from "orb"."events" e cross join late l
    where e.seq <= $2 and e.resource_id = any (array(select split_part(x, '@', 1) from unnest(l.ids) x)) and e.resource_id is not null and (e.resource_id) || '@' || ((e.payload -> 'properties' ->> 'plan_version_number')) = any (l.ids) and e.type = any (array['plan.version_created']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plan_versions' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."plan_versions", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select "orb"."jsonb_integral"(case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o) || coalesce(jsonb_build_object('plan_id', x.o -> 'id'), '{}'::jsonb)
      when w.src = 1 then (x.o) || coalesce(jsonb_build_object('plan_id', x.o -> 'id'), '{}'::jsonb)
      when w.src = 2 then ((case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end)) || coalesce(jsonb_build_object('plan_id', e.resource_id, 'version', e.payload #> '{properties,plan_version_number}'), '{}'::jsonb) end, array['version', 'net_terms']::text[]) as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'subscription' -> 'plan') when 1 then (e.payload -> 'plan') when 2 then (e.payload -> 'plan') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."plan_versions" ("version_key", "plan_id", "version", "adjustments", "base_plan", "base_plan_id", "created_at", "currency", "default_invoice_memo", "description", "discount", "external_plan_id", "invoicing_currency", "maximum", "maximum_amount", "metadata", "minimum", "minimum_amount", "name", "net_terms", "plan_phases", "prices", "product", "status", "trial_config", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."plan_id", r."version", case when record_image_eq(row(r."adjustments"), row(t."adjustments")) then t."adjustments" else r."adjustments" end, case when record_image_eq(row(r."base_plan"), row(t."base_plan")) then t."base_plan" else r."base_plan" end, r."base_plan_id", r."created_at", r."currency", r."default_invoice_memo", r."description", case when record_image_eq(row(r."discount"), row(t."discount")) then t."discount" else r."discount" end, r."external_plan_id", r."invoicing_currency", case when record_image_eq(row(r."maximum"), row(t."maximum")) then t."maximum" else r."maximum" end, r."maximum_amount", case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, case when record_image_eq(row(r."minimum"), row(t."minimum")) then t."minimum" else r."minimum" end, r."minimum_amount", r."name", r."net_terms", case when record_image_eq(row(r."plan_phases"), row(t."plan_phases")) then t."plan_phases" else r."plan_phases" end, case when record_image_eq(row(r."prices"), row(t."prices")) then t."prices" else r."prices" end, case when record_image_eq(row(r."product"), row(t."product")) then t."product" else r."product" end, r."status", case when record_image_eq(row(r."trial_config"), row(t."trial_config")) then t."trial_config" else r."trial_config" end, f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."plan_versions" t on t."version_key" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."version_key" is null then null::"orb"."plan_versions" else row(t."version_key", t."plan_id", t."version", t."adjustments", t."base_plan", t."base_plan_id", t."created_at", t."currency", t."default_invoice_memo", t."description", t."discount", t."external_plan_id", t."invoicing_currency", t."maximum", t."maximum_amount", t."metadata", t."minimum", t."minimum_amount", t."name", t."net_terms", t."plan_phases", t."prices", t."product", t."status", t."trial_config", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."plan_versions" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("version_key") do update set "plan_id" = excluded."plan_id", "version" = excluded."version", "adjustments" = excluded."adjustments", "base_plan" = excluded."base_plan", "base_plan_id" = excluded."base_plan_id", "created_at" = excluded."created_at", "currency" = excluded."currency", "default_invoice_memo" = excluded."default_invoice_memo", "description" = excluded."description", "discount" = excluded."discount", "external_plan_id" = excluded."external_plan_id", "invoicing_currency" = excluded."invoicing_currency", "maximum" = excluded."maximum", "maximum_amount" = excluded."maximum_amount", "metadata" = excluded."metadata", "minimum" = excluded."minimum", "minimum_amount" = excluded."minimum_amount", "name" = excluded."name", "net_terms" = excluded."net_terms", "plan_phases" = excluded."plan_phases", "prices" = excluded."prices", "product" = excluded."product", "status" = excluded."status", "trial_config" = excluded."trial_config", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select coalesce(sum(b.n), 0)::bigint from live b), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'snapshot.plan', 'plan.version_created']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'plan_versions' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select (case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') -> 'id') = 'string' then nullif((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id', '') end) || '@' || (case when (e.payload -> 'subscription' -> 'plan') ? 'prices' then (e.payload -> 'subscription' -> 'plan') ->> 'version' end) as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select (e.resource_id) || '@' || (case when (e.payload -> 'plan') ? 'prices' then (e.payload -> 'plan') ->> 'version' end) as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['snapshot.plan']::text[])
  union all
  select (e.resource_id) || '@' || ((e.payload -> 'properties' ->> 'plan_version_number')) as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['plan.version_created']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'subscription' -> 'plan') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'plan') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['snapshot.plan']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
