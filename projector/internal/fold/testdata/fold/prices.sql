-- Projection prices (version 5) into orb.prices: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 0 as src, 1::bigint as n
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['price.edited']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, 1::bigint as n
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.price']::text[])
    union all
    select e.seq, e.created_at, e.event_id, i.v #>> '{}' as entity, true as full, f.src as src,
           case when w.newest then k.cnt else 0 end as n
    from (
      select count(*) as cnt,
             max(array[extract(epoch from e.created_at), e.seq]) as hi,
             min(array[extract(epoch from e.created_at), e.seq]) as lo
      from "orb"."events" e
      cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp
      cross join lateral (select (jsonb_path_query_array(fp.o, '$.plan.prices[*].id')::text || jsonb_path_query_array(fp.o, '$.price_intervals[*].price.id')::text) collate "C" as k offset 0) x
      where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'prices' and d.seq = e.seq and d.resolved_at is null)
      group by x.k
    ) k
    cross join lateral (values (k.hi[2]::bigint, true), (k.lo[2]::bigint, false)) w(seq, newest)
    -- One index lookup per kept event (a join could be planned as a scan
    -- of the whole log).
    cross join lateral (select e.seq, e.created_at, e.event_id, coalesce(e.refs, e.payload) -> 'subscription' as o from "orb"."events" e where e.seq = w.seq offset 0) e
    cross join lateral (values (2, jsonb_path_query_array(e.o, '$.plan.prices[*].id'), null::jsonb), (3, jsonb_path_query_array(e.o, '$.price_intervals[*].price.id'), jsonb_path_query_array(e.o, '$.plan.prices[*].id'))) f(src, ids, ex)
    cross join lateral jsonb_array_elements(f.ids) i(v)
    where (w.newest or k.cnt > 1) and jsonb_typeof(i.v) = 'string' and i.v <> '""'
      and not coalesce(f.ex @> jsonb_build_array(i.v), false)
    union all
    select e.seq, e.created_at, e.event_id, i.v #>> '{}' as entity, true as full, f.src as src,
           case when w.newest then k.cnt else 0 end as n
    from (
      select count(*) as cnt,
             max(array[extract(epoch from e.created_at), e.seq]) as hi,
             min(array[extract(epoch from e.created_at), e.seq]) as lo
      from "orb"."events" e
      cross join lateral (select e.payload -> 'plan' as o offset 0) fp
      cross join lateral (select (jsonb_path_query_array(fp.o, '$.prices[*].id')::text) collate "C" as k offset 0) x
      where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.plan']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'prices' and d.seq = e.seq and d.resolved_at is null)
      group by x.k
    ) k
    cross join lateral (values (k.hi[2]::bigint, true), (k.lo[2]::bigint, false)) w(seq, newest)
    -- One index lookup per kept event (a join could be planned as a scan
    -- of the whole log).
    cross join lateral (select e.seq, e.created_at, e.event_id, e.payload -> 'plan' as o from "orb"."events" e where e.seq = w.seq offset 0) e
    cross join lateral (values (4, jsonb_path_query_array(e.o, '$.prices[*].id'), null::jsonb)) f(src, ids, ex)
    cross join lateral jsonb_array_elements(f.ids) i(v)
    where (w.newest or k.cnt > 1) and jsonb_typeof(i.v) = 'string' and i.v <> '""'
      and not coalesce(f.ex @> jsonb_build_array(i.v), false)
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'prices' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'prices', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then e.payload -> 'price' when 1 then e.payload -> 'price' end) as t, case b.src when 0 then 'price' when 1 then 'price' end as name) x
  where b.entity is null and b.src = any (array[0, 1]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."prices" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['price.edited']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['snapshot.price']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 2 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.plan.prices[*]') o(o)
    where e.seq = t.last_event_seq and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 3 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.price_intervals[*].price') o(o)
    where e.seq = t.last_event_seq and not jsonb_path_exists(fp.o, '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', o.o -> 'id')) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 4 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.prices[*]') o(o)
    where e.seq = t.last_event_seq and e.type = any (array['snapshot.plan']::text[])
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
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['price.edited']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['snapshot.price']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 2 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.plan.prices[*]') o(o)
    where e.seq <= $2 and jsonb_path_query_array(coalesce(e.refs, e.payload) -> 'subscription', '$.plan.prices[*].id') ?| l.ids and o.o ->> 'id' = any (l.ids) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 3 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.price_intervals[*].price') o(o)
    where e.seq <= $2 and jsonb_path_query_array(coalesce(e.refs, e.payload) -> 'subscription', '$.price_intervals[*].price.id') ?| l.ids and o.o ->> 'id' = any (l.ids) and not jsonb_path_exists(fp.o, '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', o.o -> 'id')) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 4 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.prices[*]') o(o)
    where e.seq <= $2 and jsonb_path_query_array(e.payload -> 'plan', '$.prices[*].id') ?| l.ids and o.o ->> 'id' = any (l.ids) and e.type = any (array['snapshot.plan']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'prices' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."prices", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select "orb"."jsonb_integral"(case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o - array['plan_id']::text[]) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 1 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 2 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{subscription,plan,id}'), '{}'::jsonb)
      when w.src = 3 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 4 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{plan,id}'), '{}'::jsonb) end, array['plan_phase_order']::text[]) as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'price') when 1 then (e.payload -> 'price') when 2 then (jsonb_path_query_first(e.payload -> 'subscription', '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) when 3 then (jsonb_path_query_first(e.payload -> 'subscription', '$.price_intervals[*].price ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) when 4 then (jsonb_path_query_first(e.payload -> 'plan', '$.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."prices" ("id", "billable_metric", "billing_cycle_configuration", "billing_mode", "cadence", "conversion_rate", "conversion_rate_config", "created_at", "credit_allocation", "currency", "dimensional_price_configuration", "discount", "external_price_id", "fixed_price_quantity", "invoice_grouping_key", "invoicing_cycle_configuration", "item", "maximum", "maximum_amount", "metadata", "minimum", "minimum_amount", "model_config", "model_type", "name", "plan_id", "plan_phase_order", "price_type", "replaces_price_id", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, case when record_image_eq(row(r."billable_metric"), row(t."billable_metric")) then t."billable_metric" else r."billable_metric" end, case when record_image_eq(row(r."billing_cycle_configuration"), row(t."billing_cycle_configuration")) then t."billing_cycle_configuration" else r."billing_cycle_configuration" end, r."billing_mode", r."cadence", r."conversion_rate", case when record_image_eq(row(r."conversion_rate_config"), row(t."conversion_rate_config")) then t."conversion_rate_config" else r."conversion_rate_config" end, r."created_at", case when record_image_eq(row(r."credit_allocation"), row(t."credit_allocation")) then t."credit_allocation" else r."credit_allocation" end, r."currency", case when record_image_eq(row(r."dimensional_price_configuration"), row(t."dimensional_price_configuration")) then t."dimensional_price_configuration" else r."dimensional_price_configuration" end, case when record_image_eq(row(r."discount"), row(t."discount")) then t."discount" else r."discount" end, r."external_price_id", r."fixed_price_quantity", r."invoice_grouping_key", case when record_image_eq(row(r."invoicing_cycle_configuration"), row(t."invoicing_cycle_configuration")) then t."invoicing_cycle_configuration" else r."invoicing_cycle_configuration" end, case when record_image_eq(row(r."item"), row(t."item")) then t."item" else r."item" end, case when record_image_eq(row(r."maximum"), row(t."maximum")) then t."maximum" else r."maximum" end, r."maximum_amount", case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, case when record_image_eq(row(r."minimum"), row(t."minimum")) then t."minimum" else r."minimum" end, r."minimum_amount", case when record_image_eq(row(r."model_config"), row(t."model_config")) then t."model_config" else r."model_config" end, r."model_type", r."name", r."plan_id", r."plan_phase_order", r."price_type", r."replaces_price_id", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."prices" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."prices" else row(t."id", t."billable_metric", t."billing_cycle_configuration", t."billing_mode", t."cadence", t."conversion_rate", t."conversion_rate_config", t."created_at", t."credit_allocation", t."currency", t."dimensional_price_configuration", t."discount", t."external_price_id", t."fixed_price_quantity", t."invoice_grouping_key", t."invoicing_cycle_configuration", t."item", t."maximum", t."maximum_amount", t."metadata", t."minimum", t."minimum_amount", t."model_config", t."model_type", t."name", t."plan_id", t."plan_phase_order", t."price_type", t."replaces_price_id", t."item_id", t."billable_metric_id", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."prices" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "billable_metric" = excluded."billable_metric", "billing_cycle_configuration" = excluded."billing_cycle_configuration", "billing_mode" = excluded."billing_mode", "cadence" = excluded."cadence", "conversion_rate" = excluded."conversion_rate", "conversion_rate_config" = excluded."conversion_rate_config", "created_at" = excluded."created_at", "credit_allocation" = excluded."credit_allocation", "currency" = excluded."currency", "dimensional_price_configuration" = excluded."dimensional_price_configuration", "discount" = excluded."discount", "external_price_id" = excluded."external_price_id", "fixed_price_quantity" = excluded."fixed_price_quantity", "invoice_grouping_key" = excluded."invoice_grouping_key", "invoicing_cycle_configuration" = excluded."invoicing_cycle_configuration", "item" = excluded."item", "maximum" = excluded."maximum", "maximum_amount" = excluded."maximum_amount", "metadata" = excluded."metadata", "minimum" = excluded."minimum", "minimum_amount" = excluded."minimum_amount", "model_config" = excluded."model_config", "model_type" = excluded."model_type", "name" = excluded."name", "plan_id" = excluded."plan_id", "plan_phase_order" = excluded."plan_phase_order", "price_type" = excluded."price_type", "replaces_price_id" = excluded."replaces_price_id", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select coalesce(sum(b.n), 0)::bigint from live b), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['price.edited', 'snapshot.price', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'snapshot.plan']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'prices' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'price')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['price.edited']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'price')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['snapshot.price']::text[])
  union all
  select case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.plan.prices[*]') o(o) where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.price_intervals[*].price') o(o) where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]) and not jsonb_path_exists(fp.o, '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', o.o -> 'id'))
  union all
  select case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.prices[*]') o(o) where e.seq = any ($1::bigint[]) and e.type = any (array['snapshot.plan']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'price') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['snapshot.price']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (jsonb_path_query_first(e.payload -> 'subscription', '$.plan.prices[*]')) as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (jsonb_path_query_first(e.payload -> 'subscription', '$.price_intervals[*].price')) as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (jsonb_path_query_first(e.payload -> 'plan', '$.prices[*]')) as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['snapshot.plan']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
