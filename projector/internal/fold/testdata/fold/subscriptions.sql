-- Projection subscriptions (version 3) into orb.subscriptions: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'price_intervals', false) as full, 0 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'subscription' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'subscriptions', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then coalesce(e.refs, e.payload) -> 'subscription' when 1 then e.payload -> 'subscription' end) as t, case b.src when 0 then 'subscription' when 1 then 'subscription' end as name) x
  where b.entity is null and b.src = any (array[0, 1]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."subscriptions" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'price_intervals', false) as full, 0 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'subscription' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
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
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'price_intervals', false) as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'subscription' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."subscriptions", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select "orb"."jsonb_integral"(case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when w.full then x.o else (x.o - array['customer', 'plan']::text[]) || coalesce(jsonb_strip_nulls(jsonb_build_object('customer_id', x.o #> '{customer,id}',
	'external_customer_id', x.o #> '{customer,external_customer_id}', 'plan_id', x.o #> '{plan,id}')), '{}'::jsonb) end
      when w.src = 1 then ((case when x.o ? 'start_date' then jsonb_build_object('start_date', x.o -> 'start_date') else '{}'::jsonb end || case when x.o ? 'end_date' then jsonb_build_object('end_date', x.o -> 'end_date') else '{}'::jsonb end || case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object('customer_id', x.o #> '{customer,id}',
	'external_customer_id', x.o #> '{customer,external_customer_id}', 'plan_id', x.o #> '{plan,id}')), '{}'::jsonb) end, array['active_plan_phase_order', 'billing_cycle_day', 'net_terms']::text[]) as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'subscription') when 1 then (e.payload -> 'subscription') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."subscriptions" ("id", "active_plan_phase_order", "adjustment_intervals", "auto_collection", "auto_issuance", "billing_cycle_anchor_configuration", "billing_cycle_day", "created_at", "current_billing_period_end_date", "current_billing_period_start_date", "customer", "default_invoice_memo", "discount_intervals", "end_date", "fixed_fee_quantity_schedule", "invoicing_threshold", "maximum_intervals", "metadata", "minimum_intervals", "name", "net_terms", "pending_subscription_change", "plan", "price_intervals", "redeemed_coupon", "start_date", "status", "trial_info", "customer_id", "external_customer_id", "plan_id", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."active_plan_phase_order", case when record_image_eq(row(r."adjustment_intervals"), row(t."adjustment_intervals")) then t."adjustment_intervals" else r."adjustment_intervals" end, r."auto_collection", r."auto_issuance", case when record_image_eq(row(r."billing_cycle_anchor_configuration"), row(t."billing_cycle_anchor_configuration")) then t."billing_cycle_anchor_configuration" else r."billing_cycle_anchor_configuration" end, r."billing_cycle_day", r."created_at", r."current_billing_period_end_date", r."current_billing_period_start_date", case when record_image_eq(row(r."customer"), row(t."customer")) then t."customer" else r."customer" end, r."default_invoice_memo", case when record_image_eq(row(r."discount_intervals"), row(t."discount_intervals")) then t."discount_intervals" else r."discount_intervals" end, r."end_date", case when record_image_eq(row(r."fixed_fee_quantity_schedule"), row(t."fixed_fee_quantity_schedule")) then t."fixed_fee_quantity_schedule" else r."fixed_fee_quantity_schedule" end, r."invoicing_threshold", case when record_image_eq(row(r."maximum_intervals"), row(t."maximum_intervals")) then t."maximum_intervals" else r."maximum_intervals" end, case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, case when record_image_eq(row(r."minimum_intervals"), row(t."minimum_intervals")) then t."minimum_intervals" else r."minimum_intervals" end, r."name", r."net_terms", case when record_image_eq(row(r."pending_subscription_change"), row(t."pending_subscription_change")) then t."pending_subscription_change" else r."pending_subscription_change" end, case when record_image_eq(row(r."plan"), row(t."plan")) then t."plan" else r."plan" end, case when record_image_eq(row(r."price_intervals"), row(t."price_intervals")) then t."price_intervals" else r."price_intervals" end, case when record_image_eq(row(r."redeemed_coupon"), row(t."redeemed_coupon")) then t."redeemed_coupon" else r."redeemed_coupon" end, r."start_date", r."status", case when record_image_eq(row(r."trial_info"), row(t."trial_info")) then t."trial_info" else r."trial_info" end, (coalesce(r.customer_id, r.customer ->> 'id')), (coalesce(r.external_customer_id, r.customer ->> 'external_customer_id')), (coalesce(r.plan_id, r.plan ->> 'id')), f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."subscriptions" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."subscriptions" else row(t."id", t."active_plan_phase_order", t."adjustment_intervals", t."auto_collection", t."auto_issuance", t."billing_cycle_anchor_configuration", t."billing_cycle_day", t."created_at", t."current_billing_period_end_date", t."current_billing_period_start_date", t."customer", t."default_invoice_memo", t."discount_intervals", t."end_date", t."fixed_fee_quantity_schedule", t."invoicing_threshold", t."maximum_intervals", t."metadata", t."minimum_intervals", t."name", t."net_terms", t."pending_subscription_change", t."plan", t."price_intervals", t."redeemed_coupon", t."start_date", t."status", t."trial_info", t."customer_id", t."external_customer_id", t."plan_id", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."subscriptions" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "active_plan_phase_order" = excluded."active_plan_phase_order", "adjustment_intervals" = excluded."adjustment_intervals", "auto_collection" = excluded."auto_collection", "auto_issuance" = excluded."auto_issuance", "billing_cycle_anchor_configuration" = excluded."billing_cycle_anchor_configuration", "billing_cycle_day" = excluded."billing_cycle_day", "created_at" = excluded."created_at", "current_billing_period_end_date" = excluded."current_billing_period_end_date", "current_billing_period_start_date" = excluded."current_billing_period_start_date", "customer" = excluded."customer", "default_invoice_memo" = excluded."default_invoice_memo", "discount_intervals" = excluded."discount_intervals", "end_date" = excluded."end_date", "fixed_fee_quantity_schedule" = excluded."fixed_fee_quantity_schedule", "invoicing_threshold" = excluded."invoicing_threshold", "maximum_intervals" = excluded."maximum_intervals", "metadata" = excluded."metadata", "minimum_intervals" = excluded."minimum_intervals", "name" = excluded."name", "net_terms" = excluded."net_terms", "pending_subscription_change" = excluded."pending_subscription_change", "plan" = excluded."plan", "price_intervals" = excluded."price_intervals", "redeemed_coupon" = excluded."redeemed_coupon", "start_date" = excluded."start_date", "status" = excluded."status", "trial_info" = excluded."trial_info", "customer_id" = excluded."customer_id", "external_customer_id" = excluded."external_customer_id", "plan_id" = excluded."plan_id", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'subscription')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'subscription') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
