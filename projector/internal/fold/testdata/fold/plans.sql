-- Projection plans (version 5) into orb.plans: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'prices', false) as full, 0 as src, case when coalesce(o.o ? 'prices', false) and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, case when true and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 2 as src, case when jsonb_typeof((e.payload #> '{properties,new_default_version_number}')) = 'number' then ((e.payload #> '{properties,new_default_version_number}') #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['plan.default_version_set']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 3 as src, null::numeric as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['plan.version_created']::text[])
),
pin as materialized (
  -- The version to show: the row's default when an object of it is shown
  -- or comes in this batch, else the highest version seen.
  select k.entity, k.sets, k.maxv,
         case when t."default_version" is not null and (t."version" = t."default_version" or t."default_version" = any (k.vers)) then t."default_version"
              else greatest(t."latest_version", k.maxv) end as target
  from (
    select b.entity, bool_or(b.src = any (array[2]::int[])) as sets,
           max(b.ver) filter (where b.src <> all (array[2]::int[])) as maxv,
           array_agg(b.ver) filter (where b.src <> all (array[2]::int[]) and b.ver is not null) as vers
    from ranked b where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plans' and d.seq = b.seq and d.resolved_at is null)
    group by b.entity
  ) k
  left join "orb"."plans" t on t."id" = k.entity
),
live as materialized (
  select b.* from ranked b left join pin p on p.entity = b.entity
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plans' and d.seq = b.seq and d.resolved_at is null)
    and (b.ver is null or b.src = any (array[2]::int[]) or b.ver = p.target)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'plans', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 1 then e.payload -> 'plan' when 2 then e.payload -> 'plan' when 3 then e.payload -> 'plan' end) as t, case b.src when 1 then 'plan' when 2 then 'plan' when 3 then 'plan' end as name) x
  where b.entity is null and b.src = any (array[1, 2, 3]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq, t."version"
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq, t."version" from "orb"."plans" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
      and (b.ver is null or b.ver = t."version")
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'prices', false) as full, 0 as src, case when coalesce(o.o ? 'prices', false) and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, case when true and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 2 as src, case when jsonb_typeof((e.payload #> '{properties,new_default_version_number}')) = 'number' then ((e.payload #> '{properties,new_default_version_number}') #>> '{}')::numeric end as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['plan.default_version_set']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 3 as src, null::numeric as ver
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
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
    union
    select p.entity from pin p where p.sets
  ) as ids
),
relog as materialized (
  select r.* from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'prices', false) as full, 0 as src, case when coalesce(o.o ? 'prices', false) and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') = any (l.ids) and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, case when true and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 2 as src, case when jsonb_typeof((e.payload #> '{properties,new_default_version_number}')) = 'number' then ((e.payload #> '{properties,new_default_version_number}') #>> '{}')::numeric end as ver
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((e.resource_id = any (l.ids) and e.resource_id is not null) or (e.resource_id is null and case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end = any (l.ids))) and e.type = any (array['plan.default_version_set']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 3 as src, null::numeric as ver
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((e.resource_id = any (l.ids) and e.resource_id is not null) or (e.resource_id is null and case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end = any (l.ids))) and e.type = any (array['plan.version_created']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plans' and d.seq = r.seq and d.resolved_at is null)
),
relog_pin as materialized (
  -- The default the newest default event names, when an object of it was
  -- seen; else the highest version seen.
  select x.entity, x.dflt, x.maxv,
         case when x.dflt = any (x.vers) then x.dflt else x.maxv end as target
  from (
    select r.entity,
           (array_agg(r.ver order by r.created_at desc, r.seq desc) filter (where r.src = any (array[2]::int[])))[1] as dflt,
           max(r.ver) filter (where r.src <> all (array[2]::int[])) as maxv,
           array_agg(r.ver) filter (where r.src <> all (array[2]::int[]) and r.ver is not null) as vers
    from relog r group by r.entity
  ) x
),
cand as (
  select b.seq, b.created_at, b.event_id, b.entity, b.full, b.src, false as relog
  from live b, late l
  where b.entity <> all (l.ids) and not exists (select from stale s where s.seq = b.seq and s.entity = b.entity)
  union all
  select r.seq, r.created_at, r.event_id, r.entity, r.full, r.src, true
  from relog r join relog_pin p on p.entity = r.entity
  where (r.ver is null or r.src = any (array[2]::int[]) or r.ver = p.target)
),
pinned as materialized (
  select p.entity, t."default_version" as dflt, greatest(t."latest_version", p.maxv) as latest
  from pin p cross join late l left join "orb"."plans" t on t."id" = p.entity
  where p.entity <> all (l.ids)
  union all
  select r.entity, r.dflt, r.maxv from relog_pin r
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
         count(jsonb_populate_record(null::"orb"."plans", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select "orb"."jsonb_integral"((case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when w.full then x.o else (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end
      when w.src = 1 then x.o
      when w.src = 2 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end)
      when w.src = 3 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end) || coalesce((select jsonb_build_object('default_version', pd.dflt, 'latest_version', pd.latest)
      from pinned pd where pd.entity = w.entity), '{}'::jsonb), array['net_terms', 'version', 'default_version', 'latest_version']::text[]) as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'subscription' -> 'plan') when 1 then (e.payload -> 'plan') when 2 then (e.payload -> 'plan') when 3 then (e.payload -> 'plan') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
bumped as (
  update "orb"."plans" t set "latest_version" = pd.latest
  from pinned pd
  where t."id" = pd.entity and t."latest_version" is distinct from pd.latest
    and not exists (select from folded f where f.entity = pd.entity)
  returning 1
),
written as (
  insert into "orb"."plans" ("id", "adjustments", "base_plan", "base_plan_id", "created_at", "currency", "default_invoice_memo", "description", "discount", "external_plan_id", "invoicing_currency", "maximum", "maximum_amount", "metadata", "minimum", "minimum_amount", "name", "net_terms", "plan_phases", "prices", "product", "status", "trial_config", "version", "default_version", "latest_version", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, case when record_image_eq(row(r."adjustments"), row(t."adjustments")) then t."adjustments" else r."adjustments" end, case when record_image_eq(row(r."base_plan"), row(t."base_plan")) then t."base_plan" else r."base_plan" end, r."base_plan_id", r."created_at", r."currency", r."default_invoice_memo", r."description", case when record_image_eq(row(r."discount"), row(t."discount")) then t."discount" else r."discount" end, r."external_plan_id", r."invoicing_currency", case when record_image_eq(row(r."maximum"), row(t."maximum")) then t."maximum" else r."maximum" end, r."maximum_amount", case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, case when record_image_eq(row(r."minimum"), row(t."minimum")) then t."minimum" else r."minimum" end, r."minimum_amount", r."name", r."net_terms", case when record_image_eq(row(r."plan_phases"), row(t."plan_phases")) then t."plan_phases" else r."plan_phases" end, case when record_image_eq(row(r."prices"), row(t."prices")) then t."prices" else r."prices" end, case when record_image_eq(row(r."product"), row(t."product")) then t."product" else r."product" end, r."status", case when record_image_eq(row(r."trial_config"), row(t."trial_config")) then t."trial_config" else r."trial_config" end, r."version", r."default_version", r."latest_version", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."plans" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."plans" else row(t."id", t."adjustments", t."base_plan", t."base_plan_id", t."created_at", t."currency", t."default_invoice_memo", t."description", t."discount", t."external_plan_id", t."invoicing_currency", t."maximum", t."maximum_amount", t."metadata", t."minimum", t."minimum_amount", t."name", t."net_terms", t."plan_phases", t."prices", t."product", t."status", t."trial_config", t."version", t."last_event_id", t."last_event_seq", t."last_event_at", t."default_version", t."latest_version")::"orb"."plans" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "adjustments" = excluded."adjustments", "base_plan" = excluded."base_plan", "base_plan_id" = excluded."base_plan_id", "created_at" = excluded."created_at", "currency" = excluded."currency", "default_invoice_memo" = excluded."default_invoice_memo", "description" = excluded."description", "discount" = excluded."discount", "external_plan_id" = excluded."external_plan_id", "invoicing_currency" = excluded."invoicing_currency", "maximum" = excluded."maximum", "maximum_amount" = excluded."maximum_amount", "metadata" = excluded."metadata", "minimum" = excluded."minimum", "minimum_amount" = excluded."minimum_amount", "name" = excluded."name", "net_terms" = excluded."net_terms", "plan_phases" = excluded."plan_phases", "prices" = excluded."prices", "product" = excluded."product", "status" = excluded."status", "trial_config" = excluded."trial_config", "version" = excluded."version", "default_version" = excluded."default_version", "latest_version" = excluded."latest_version", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'snapshot.plan', 'plan.default_version_set', 'plan.version_created']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'plans' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') -> 'id') = 'string' then nullif((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id', '') end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'plan')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['snapshot.plan']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['plan.default_version_set']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['plan.version_created']::text[])
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
