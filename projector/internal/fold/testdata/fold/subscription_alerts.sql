-- Projection subscription_alerts (version 3) into orb.subscription_alerts: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.event_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscription_alerts' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'subscription_alerts', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'event_id' || ' this projection can find' end
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
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."subscription_alerts" t where t."event_id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.event_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[])
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
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.event_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'properties' as o offset 0) o
    where e.seq <= $2 and e.event_id = any (l.ids) and e.event_id is not null and e.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscription_alerts' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."subscription_alerts", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select "orb"."jsonb_integral"(case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o) || coalesce((select jsonb_build_object('event_id', e.event_id, 'type', e.type, 'created_at', e.created_at,
				'subscription_id', s -> 'id', 'customer_id', s #> '{customer,id}',
				'external_customer_id', s #> '{customer,external_customer_id}', 'plan_id', s #> '{plan,id}')
				from (select e.payload -> 'subscription' as s offset 0) sub), '{}'::jsonb) end, array['cardinality', 'cardinality_limit']::text[]) as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'properties') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."subscription_alerts" ("event_id", "type", "created_at", "subscription_id", "customer_id", "external_customer_id", "plan_id", "alert_configuration", "amount_threshold", "billable_metric_id", "evaluated_amount", "evaluated_quantity", "grouping_keys", "groups", "invoice_id", "invoicing_threshold", "licenses", "quantity_threshold", "threshold_invoice_created", "timeframe_end", "timeframe_start", "reason", "cardinality", "cardinality_limit", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."type", r."created_at", r."subscription_id", r."customer_id", r."external_customer_id", r."plan_id", case when record_image_eq(row(r."alert_configuration"), row(t."alert_configuration")) then t."alert_configuration" else r."alert_configuration" end, r."amount_threshold", r."billable_metric_id", r."evaluated_amount", r."evaluated_quantity", case when record_image_eq(row(r."grouping_keys"), row(t."grouping_keys")) then t."grouping_keys" else r."grouping_keys" end, case when record_image_eq(row(r."groups"), row(t."groups")) then t."groups" else r."groups" end, r."invoice_id", r."invoicing_threshold", case when record_image_eq(row(r."licenses"), row(t."licenses")) then t."licenses" else r."licenses" end, r."quantity_threshold", r."threshold_invoice_created", r."timeframe_end", r."timeframe_start", r."reason", r."cardinality", r."cardinality_limit", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."subscription_alerts" t on t."event_id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."event_id" is null then null::"orb"."subscription_alerts" else row(t."event_id", t."type", t."created_at", t."subscription_id", t."customer_id", t."external_customer_id", t."plan_id", t."alert_configuration", t."amount_threshold", t."billable_metric_id", t."evaluated_amount", t."evaluated_quantity", t."grouping_keys", t."groups", t."invoice_id", t."invoicing_threshold", t."licenses", t."quantity_threshold", t."threshold_invoice_created", t."timeframe_end", t."timeframe_start", t."alert_id", t."last_event_id", t."last_event_seq", t."last_event_at", t."reason", t."cardinality", t."cardinality_limit")::"orb"."subscription_alerts" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("event_id") do update set "type" = excluded."type", "created_at" = excluded."created_at", "subscription_id" = excluded."subscription_id", "customer_id" = excluded."customer_id", "external_customer_id" = excluded."external_customer_id", "plan_id" = excluded."plan_id", "alert_configuration" = excluded."alert_configuration", "amount_threshold" = excluded."amount_threshold", "billable_metric_id" = excluded."billable_metric_id", "evaluated_amount" = excluded."evaluated_amount", "evaluated_quantity" = excluded."evaluated_quantity", "grouping_keys" = excluded."grouping_keys", "groups" = excluded."groups", "invoice_id" = excluded."invoice_id", "invoicing_threshold" = excluded."invoicing_threshold", "licenses" = excluded."licenses", "quantity_threshold" = excluded."quantity_threshold", "threshold_invoice_created" = excluded."threshold_invoice_created", "timeframe_end" = excluded."timeframe_end", "timeframe_start" = excluded."timeframe_start", "reason" = excluded."reason", "cardinality" = excluded."cardinality", "cardinality_limit" = excluded."cardinality_limit", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'subscription_alerts' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'properties')) = 'object' then e.event_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'properties') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.alert_disabled', 'subscription.cost_exceeded', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_balance_threshold_reached', 'subscription.spend_exceeded', 'subscription.usage_exceeded']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
