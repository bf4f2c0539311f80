-- Projection subscriptions_history (version 3) into orb.subscriptions_history: generated from the catalog
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
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'subscriptions_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."subscriptions_history" v
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
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'price_intervals', false) as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'subscription' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions_history' and d.seq = r.seq and d.resolved_at is null)
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
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'active_plan_phase_order') = 'number' and (sh.s ->> 'active_plan_phase_order') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'billing_cycle_day') = 'number' and (sh.s ->> 'billing_cycle_day') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'net_terms') = 'number' and (sh.s ->> 'net_terms') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['active_plan_phase_order', 'billing_cycle_day', 'net_terms', 'folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'subscription') when 1 then (e.payload -> 'subscription') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 0 then coalesce((x.o) ? 'price_intervals', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when f.full then x.o else (x.o - array['customer', 'plan']::text[]) || coalesce(jsonb_strip_nulls(jsonb_build_object('customer_id', x.o #> '{customer,id}',
	'external_customer_id', x.o #> '{customer,external_customer_id}', 'plan_id', x.o #> '{plan,id}')), '{}'::jsonb) end
      when w.src = 1 then ((case when x.o ? 'start_date' then jsonb_build_object('start_date', x.o -> 'start_date') else '{}'::jsonb end || case when x.o ? 'end_date' then jsonb_build_object('end_date', x.o -> 'end_date') else '{}'::jsonb end || case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object('customer_id', x.o #> '{customer,id}',
	'external_customer_id', x.o #> '{customer,external_customer_id}', 'plan_id', x.o #> '{plan,id}')), '{}'::jsonb) end as s offset 0) sh
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
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."subscriptions_history" else b.row end,
           case when coalesce(o.full, false) and o.seq = o.lf_seq then coalesce(o.obj, '{}'::jsonb)
             else coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) filter (where not (coalesce(o.full, false) and o.seq = o.lf_seq)) over w, '{}'::jsonb) end) as r0
  from objs o
  left join base b on b.entity = o.entity
  where not o.repeated
  window w as (partition by o.entity order by o.created_at, o.seq)
),
states as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, (select jsonb_populate_record(s.r0, jsonb_build_object('customer_id', (coalesce(r.customer_id, r.customer ->> 'id')), 'external_customer_id', (coalesce(r.external_customer_id, r.customer ->> 'external_customer_id')), 'plan_id', (coalesce(r.plan_id, r.plan ->> 'id'))))
     from (select s.entity, s.seq as last_seq, s.created_at as last_at) f, (select (s.r0).*) r) as r from folds s
  -- In folds' order, said again: without an order of its own this level
  -- forgets it, and marked's window sorted every state (whole rows, a
  -- subscription's ~50 KB each) once more, spilling to disk.
  order by s.entity, s.created_at, s.seq
  offset 0 -- Each state computed once: marked's lag(s.r) would compute it again.
),
marked as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r,
         case when s.prev_seq is null then not s.has_base or ((s.r)."active_plan_phase_order" is distinct from (s.base)."active_plan_phase_order" or (s.r)."auto_collection" is distinct from (s.base)."auto_collection" or (s.r)."auto_issuance" is distinct from (s.base)."auto_issuance" or (s.r)."billing_cycle_day" is distinct from (s.base)."billing_cycle_day" or (s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."current_billing_period_end_date" is distinct from (s.base)."current_billing_period_end_date" or (s.r)."current_billing_period_start_date" is distinct from (s.base)."current_billing_period_start_date" or (s.r)."default_invoice_memo" is distinct from (s.base)."default_invoice_memo" or (s.r)."end_date" is distinct from (s.base)."end_date" or (s.r)."invoicing_threshold" is distinct from (s.base)."invoicing_threshold" or (s.r)."name" is distinct from (s.base)."name" or (s.r)."net_terms" is distinct from (s.base)."net_terms" or (s.r)."start_date" is distinct from (s.base)."start_date" or (s.r)."status" is distinct from (s.base)."status" or (s.r)."customer_id" is distinct from (s.base)."customer_id" or (s.r)."external_customer_id" is distinct from (s.base)."external_customer_id" or (s.r)."plan_id" is distinct from (s.base)."plan_id" or (not pg_catalog.record_image_eq(row((s.r)."adjustment_intervals"), row((s.base)."adjustment_intervals")) and (s.r)."adjustment_intervals" is distinct from (s.base)."adjustment_intervals") or (not pg_catalog.record_image_eq(row((s.r)."billing_cycle_anchor_configuration"), row((s.base)."billing_cycle_anchor_configuration")) and (s.r)."billing_cycle_anchor_configuration" is distinct from (s.base)."billing_cycle_anchor_configuration") or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.base)."customer")) and (s.r)."customer" is distinct from (s.base)."customer") or (not pg_catalog.record_image_eq(row((s.r)."discount_intervals"), row((s.base)."discount_intervals")) and (s.r)."discount_intervals" is distinct from (s.base)."discount_intervals") or (not pg_catalog.record_image_eq(row((s.r)."fixed_fee_quantity_schedule"), row((s.base)."fixed_fee_quantity_schedule")) and (s.r)."fixed_fee_quantity_schedule" is distinct from (s.base)."fixed_fee_quantity_schedule") or (not pg_catalog.record_image_eq(row((s.r)."maximum_intervals"), row((s.base)."maximum_intervals")) and (s.r)."maximum_intervals" is distinct from (s.base)."maximum_intervals") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.base)."metadata")) and (s.r)."metadata" is distinct from (s.base)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum_intervals"), row((s.base)."minimum_intervals")) and (s.r)."minimum_intervals" is distinct from (s.base)."minimum_intervals") or (not pg_catalog.record_image_eq(row((s.r)."pending_subscription_change"), row((s.base)."pending_subscription_change")) and (s.r)."pending_subscription_change" is distinct from (s.base)."pending_subscription_change") or (not pg_catalog.record_image_eq(row((s.r)."plan"), row((s.base)."plan")) and (s.r)."plan" is distinct from (s.base)."plan") or (not pg_catalog.record_image_eq(row((s.r)."price_intervals"), row((s.base)."price_intervals")) and (s.r)."price_intervals" is distinct from (s.base)."price_intervals") or (not pg_catalog.record_image_eq(row((s.r)."redeemed_coupon"), row((s.base)."redeemed_coupon")) and (s.r)."redeemed_coupon" is distinct from (s.base)."redeemed_coupon") or (not pg_catalog.record_image_eq(row((s.r)."trial_info"), row((s.base)."trial_info")) and (s.r)."trial_info" is distinct from (s.base)."trial_info")) else ((s.r)."active_plan_phase_order" is distinct from (s.prev)."active_plan_phase_order" or (s.r)."auto_collection" is distinct from (s.prev)."auto_collection" or (s.r)."auto_issuance" is distinct from (s.prev)."auto_issuance" or (s.r)."billing_cycle_day" is distinct from (s.prev)."billing_cycle_day" or (s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."current_billing_period_end_date" is distinct from (s.prev)."current_billing_period_end_date" or (s.r)."current_billing_period_start_date" is distinct from (s.prev)."current_billing_period_start_date" or (s.r)."default_invoice_memo" is distinct from (s.prev)."default_invoice_memo" or (s.r)."end_date" is distinct from (s.prev)."end_date" or (s.r)."invoicing_threshold" is distinct from (s.prev)."invoicing_threshold" or (s.r)."name" is distinct from (s.prev)."name" or (s.r)."net_terms" is distinct from (s.prev)."net_terms" or (s.r)."start_date" is distinct from (s.prev)."start_date" or (s.r)."status" is distinct from (s.prev)."status" or (s.r)."customer_id" is distinct from (s.prev)."customer_id" or (s.r)."external_customer_id" is distinct from (s.prev)."external_customer_id" or (s.r)."plan_id" is distinct from (s.prev)."plan_id" or (not pg_catalog.record_image_eq(row((s.r)."adjustment_intervals"), row((s.prev)."adjustment_intervals")) and (s.r)."adjustment_intervals" is distinct from (s.prev)."adjustment_intervals") or (not pg_catalog.record_image_eq(row((s.r)."billing_cycle_anchor_configuration"), row((s.prev)."billing_cycle_anchor_configuration")) and (s.r)."billing_cycle_anchor_configuration" is distinct from (s.prev)."billing_cycle_anchor_configuration") or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.prev)."customer")) and (s.r)."customer" is distinct from (s.prev)."customer") or (not pg_catalog.record_image_eq(row((s.r)."discount_intervals"), row((s.prev)."discount_intervals")) and (s.r)."discount_intervals" is distinct from (s.prev)."discount_intervals") or (not pg_catalog.record_image_eq(row((s.r)."fixed_fee_quantity_schedule"), row((s.prev)."fixed_fee_quantity_schedule")) and (s.r)."fixed_fee_quantity_schedule" is distinct from (s.prev)."fixed_fee_quantity_schedule") or (not pg_catalog.record_image_eq(row((s.r)."maximum_intervals"), row((s.prev)."maximum_intervals")) and (s.r)."maximum_intervals" is distinct from (s.prev)."maximum_intervals") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.prev)."metadata")) and (s.r)."metadata" is distinct from (s.prev)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum_intervals"), row((s.prev)."minimum_intervals")) and (s.r)."minimum_intervals" is distinct from (s.prev)."minimum_intervals") or (not pg_catalog.record_image_eq(row((s.r)."pending_subscription_change"), row((s.prev)."pending_subscription_change")) and (s.r)."pending_subscription_change" is distinct from (s.prev)."pending_subscription_change") or (not pg_catalog.record_image_eq(row((s.r)."plan"), row((s.prev)."plan")) and (s.r)."plan" is distinct from (s.prev)."plan") or (not pg_catalog.record_image_eq(row((s.r)."price_intervals"), row((s.prev)."price_intervals")) and (s.r)."price_intervals" is distinct from (s.prev)."price_intervals") or (not pg_catalog.record_image_eq(row((s.r)."redeemed_coupon"), row((s.prev)."redeemed_coupon")) and (s.r)."redeemed_coupon" is distinct from (s.prev)."redeemed_coupon") or (not pg_catalog.record_image_eq(row((s.r)."trial_info"), row((s.prev)."trial_info")) and (s.r)."trial_info" is distinct from (s.prev)."trial_info")) end as changed
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
                  (m.r)."active_plan_phase_order",
                  case when pg_catalog.record_image_eq(row((m.r)."adjustment_intervals"), row((m.base)."adjustment_intervals")) then (m.base)."adjustment_intervals" else (m.r)."adjustment_intervals" end,
                  (m.r)."auto_collection",
                  (m.r)."auto_issuance",
                  case when pg_catalog.record_image_eq(row((m.r)."billing_cycle_anchor_configuration"), row((m.base)."billing_cycle_anchor_configuration")) then (m.base)."billing_cycle_anchor_configuration" else (m.r)."billing_cycle_anchor_configuration" end,
                  (m.r)."billing_cycle_day",
                  (m.r)."created_at",
                  (m.r)."current_billing_period_end_date",
                  (m.r)."current_billing_period_start_date",
                  case when pg_catalog.record_image_eq(row((m.r)."customer"), row((m.base)."customer")) then (m.base)."customer" else (m.r)."customer" end,
                  (m.r)."default_invoice_memo",
                  case when pg_catalog.record_image_eq(row((m.r)."discount_intervals"), row((m.base)."discount_intervals")) then (m.base)."discount_intervals" else (m.r)."discount_intervals" end,
                  (m.r)."end_date",
                  case when pg_catalog.record_image_eq(row((m.r)."fixed_fee_quantity_schedule"), row((m.base)."fixed_fee_quantity_schedule")) then (m.base)."fixed_fee_quantity_schedule" else (m.r)."fixed_fee_quantity_schedule" end,
                  (m.r)."invoicing_threshold",
                  case when pg_catalog.record_image_eq(row((m.r)."maximum_intervals"), row((m.base)."maximum_intervals")) then (m.base)."maximum_intervals" else (m.r)."maximum_intervals" end,
                  case when pg_catalog.record_image_eq(row((m.r)."metadata"), row((m.base)."metadata")) then (m.base)."metadata" else (m.r)."metadata" end,
                  case when pg_catalog.record_image_eq(row((m.r)."minimum_intervals"), row((m.base)."minimum_intervals")) then (m.base)."minimum_intervals" else (m.r)."minimum_intervals" end,
                  (m.r)."name",
                  (m.r)."net_terms",
                  case when pg_catalog.record_image_eq(row((m.r)."pending_subscription_change"), row((m.base)."pending_subscription_change")) then (m.base)."pending_subscription_change" else (m.r)."pending_subscription_change" end,
                  case when pg_catalog.record_image_eq(row((m.r)."plan"), row((m.base)."plan")) then (m.base)."plan" else (m.r)."plan" end,
                  case when pg_catalog.record_image_eq(row((m.r)."price_intervals"), row((m.base)."price_intervals")) then (m.base)."price_intervals" else (m.r)."price_intervals" end,
                  case when pg_catalog.record_image_eq(row((m.r)."redeemed_coupon"), row((m.base)."redeemed_coupon")) then (m.base)."redeemed_coupon" else (m.r)."redeemed_coupon" end,
                  (m.r)."start_date",
                  (m.r)."status",
                  case when pg_catalog.record_image_eq(row((m.r)."trial_info"), row((m.base)."trial_info")) then (m.base)."trial_info" else (m.r)."trial_info" end,
                  (m.r)."customer_id",
                  (m.r)."external_customer_id",
                  (m.r)."plan_id",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at"
                )::"orb"."subscriptions_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."subscriptions_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."subscriptions_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
  insert into "orb"."subscriptions_history" ("id", "active_plan_phase_order", "adjustment_intervals", "auto_collection", "auto_issuance", "billing_cycle_anchor_configuration", "billing_cycle_day", "created_at", "current_billing_period_end_date", "current_billing_period_start_date", "customer", "default_invoice_memo", "discount_intervals", "end_date", "fixed_fee_quantity_schedule", "invoicing_threshold", "maximum_intervals", "metadata", "minimum_intervals", "name", "net_terms", "pending_subscription_change", "plan", "price_intervals", "redeemed_coupon", "start_date", "status", "trial_info", "customer_id", "external_customer_id", "plan_id", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."active_plan_phase_order", (v.r)."adjustment_intervals", (v.r)."auto_collection", (v.r)."auto_issuance", (v.r)."billing_cycle_anchor_configuration", (v.r)."billing_cycle_day", (v.r)."created_at", (v.r)."current_billing_period_end_date", (v.r)."current_billing_period_start_date", (v.r)."customer", (v.r)."default_invoice_memo", (v.r)."discount_intervals", (v.r)."end_date", (v.r)."fixed_fee_quantity_schedule", (v.r)."invoicing_threshold", (v.r)."maximum_intervals", (v.r)."metadata", (v.r)."minimum_intervals", (v.r)."name", (v.r)."net_terms", (v.r)."pending_subscription_change", (v.r)."plan", (v.r)."price_intervals", (v.r)."redeemed_coupon", (v.r)."start_date", (v.r)."status", (v.r)."trial_info", (v.r)."customer_id", (v.r)."external_customer_id", (v.r)."plan_id", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'subscriptions_history' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'subscription')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.alert_disabled', 'subscription.grouped_cost_exceeded', 'subscription.invoicing_threshold_exceeded', 'subscription.license_allocation_reset', 'subscription.license_balance_threshold_reached']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
-- (none)
