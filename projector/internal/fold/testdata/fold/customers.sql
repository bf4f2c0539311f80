-- Projection customers (version 6) into orb.customers: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.balance_transaction_created']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'email', false) as full, 2 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 3 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['reconcile.missing']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then case when jsonb_typeof(o.o -> 'customer_id') = 'string' then nullif(o.o ->> 'customer_id', '') end end as entity, false as full, 4 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'payment_method' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'customers' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'customers', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then e.payload -> 'customer' when 1 then e.payload -> 'customer' when 3 then e.payload -> 'customer' when 4 then e.payload -> 'payment_method' end) as t, case b.src when 0 then 'customer' when 1 then 'customer' when 3 then 'customer' when 4 then 'payment_method' end as name) x
  where b.entity is null and b.src = any (array[0, 1, 3, 4]::int[])
  on conflict (projection, seq) do nothing
  returning 1
),
cur as materialized (
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."customers" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['customer.balance_transaction_created']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'email', false) as full, 2 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'customer' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 3 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['reconcile.missing']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then case when jsonb_typeof(o.o -> 'customer_id') = 'string' then nullif(o.o ->> 'customer_id', '') end end as entity, false as full, 4 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'payment_method' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
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
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['customer.balance_transaction_created']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'email', false) as full, 2 as src
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'customer' as o offset 0) o
    where e.seq <= $2 and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id') = any (l.ids) and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id') is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 3 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['reconcile.missing']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then case when jsonb_typeof(o.o -> 'customer_id') = 'string' then nullif(o.o ->> 'customer_id', '') end end as entity, false as full, 4 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'payment_method' as o offset 0) o
    where e.seq <= $2 and ((e.payload -> 'payment_method') ->> 'customer_id') = any (l.ids) and ((e.payload -> 'payment_method') ->> 'customer_id') is not null and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'customers' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."customers", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then x.o
      when w.src = 1 then (x.o) || coalesce(jsonb_strip_nulls(jsonb_build_object('balance', e.payload #> '{properties,balance_transaction,ending_balance}')), '{}'::jsonb)
      when w.src = 2 then case when w.full then x.o else (case when x.o ? 'external_customer_id' then jsonb_build_object('external_customer_id', x.o -> 'external_customer_id') else '{}'::jsonb end) end
      when w.src = 3 then ((case when x.o ? 'missing_from_api_at' then jsonb_build_object('missing_from_api_at', x.o -> 'missing_from_api_at') else '{}'::jsonb end)) || coalesce(jsonb_build_object('missing_from_api_at', e.created_at), '{}'::jsonb)
      when w.src = 4 then ((case when x.o ? 'default_payment_method' then jsonb_build_object('default_payment_method', x.o -> 'default_payment_method') else '{}'::jsonb end)) || coalesce(case when (x.o ->> 'default')::boolean is true then
	jsonb_build_object('default_payment_method', case when e.type = 'payment_method.created' then x.o else 'null'::jsonb end)
	else '{}'::jsonb end, '{}'::jsonb) end as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'customer') when 1 then (e.payload -> 'customer') when 2 then (e.payload -> 'subscription' -> 'customer') when 3 then (e.payload -> 'customer') when 4 then (e.payload -> 'payment_method') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."customers" ("id", "accounting_sync_configuration", "additional_emails", "auto_collection", "auto_issuance", "automatic_tax_enabled", "balance", "billing_address", "created_at", "currency", "default_payment_method", "email", "email_delivery", "exempt_from_automated_tax", "external_customer_id", "hierarchy", "metadata", "name", "payment_configuration", "payment_provider", "payment_provider_id", "portal_url", "reporting_configuration", "shipping_address", "tax_id", "timezone", "missing_from_api_at", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, case when record_image_eq(row(r."accounting_sync_configuration"), row(t."accounting_sync_configuration")) then t."accounting_sync_configuration" else r."accounting_sync_configuration" end, case when record_image_eq(row(r."additional_emails"), row(t."additional_emails")) then t."additional_emails" else r."additional_emails" end, r."auto_collection", r."auto_issuance", r."automatic_tax_enabled", (case when exists (
	select from "orb"."events" h where h.seq = f.last_seq and h.type = 'customer.balance_transaction_created')
then coalesce((
	select min((x.t ->> 'ending_balance')::numeric)
	from "orb"."events" e cross join lateral (select e.payload #> '{properties,balance_transaction}' as t offset 0) x
	where e.type = 'customer.balance_transaction_created' and e.created_at = f.last_at
	  and e.resource_id = f.entity and e.seq <= $2
	  and not exists (
		select from "orb"."events" n
		where n.type = 'customer.balance_transaction_created' and n.created_at = f.last_at
		  and n.resource_id = f.entity and n.seq <= $2 and n.seq <> e.seq
		  and (n.payload -> 'properties' -> 'balance_transaction' ->> 'starting_balance')::numeric
		      = (x.t ->> 'ending_balance')::numeric)
	having count(*) = 1), r.balance)
else r.balance end), case when record_image_eq(row(r."billing_address"), row(t."billing_address")) then t."billing_address" else r."billing_address" end, r."created_at", r."currency", case when record_image_eq(row(r."default_payment_method"), row(t."default_payment_method")) then t."default_payment_method" else r."default_payment_method" end, r."email", r."email_delivery", r."exempt_from_automated_tax", r."external_customer_id", case when record_image_eq(row(r."hierarchy"), row(t."hierarchy")) then t."hierarchy" else r."hierarchy" end, case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, r."name", case when record_image_eq(row(r."payment_configuration"), row(t."payment_configuration")) then t."payment_configuration" else r."payment_configuration" end, r."payment_provider", r."payment_provider_id", r."portal_url", case when record_image_eq(row(r."reporting_configuration"), row(t."reporting_configuration")) then t."reporting_configuration" else r."reporting_configuration" end, case when record_image_eq(row(r."shipping_address"), row(t."shipping_address")) then t."shipping_address" else r."shipping_address" end, case when record_image_eq(row(r."tax_id"), row(t."tax_id")) then t."tax_id" else r."tax_id" end, r."timezone", r."missing_from_api_at", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."customers" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."customers" else row(t."id", t."accounting_sync_configuration", t."additional_emails", t."auto_collection", t."auto_issuance", t."automatic_tax_enabled", t."balance", t."billing_address", t."created_at", t."currency", t."default_payment_method", t."email", t."email_delivery", t."exempt_from_automated_tax", t."external_customer_id", t."hierarchy", t."metadata", t."name", t."payment_configuration", t."payment_provider", t."payment_provider_id", t."portal_url", t."reporting_configuration", t."shipping_address", t."tax_id", t."timezone", t."last_event_id", t."last_event_seq", t."last_event_at", t."missing_from_api_at")::"orb"."customers" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "accounting_sync_configuration" = excluded."accounting_sync_configuration", "additional_emails" = excluded."additional_emails", "auto_collection" = excluded."auto_collection", "auto_issuance" = excluded."auto_issuance", "automatic_tax_enabled" = excluded."automatic_tax_enabled", "balance" = excluded."balance", "billing_address" = excluded."billing_address", "created_at" = excluded."created_at", "currency" = excluded."currency", "default_payment_method" = excluded."default_payment_method", "email" = excluded."email", "email_delivery" = excluded."email_delivery", "exempt_from_automated_tax" = excluded."exempt_from_automated_tax", "external_customer_id" = excluded."external_customer_id", "hierarchy" = excluded."hierarchy", "metadata" = excluded."metadata", "name" = excluded."name", "payment_configuration" = excluded."payment_configuration", "payment_provider" = excluded."payment_provider", "payment_provider_id" = excluded."payment_provider_id", "portal_url" = excluded."portal_url", "reporting_configuration" = excluded."reporting_configuration", "shipping_address" = excluded."shipping_address", "tax_id" = excluded."tax_id", "timezone" = excluded."timezone", "missing_from_api_at" = excluded."missing_from_api_at", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer', 'customer.balance_transaction_created', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'reconcile.missing', 'payment_method.created', 'payment_method.deleted']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'customers' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'customer')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'customer')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['customer.balance_transaction_created']::text[])
  union all
  select case when jsonb_typeof((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') -> 'id') = 'string' then nullif((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id', '') end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'customer')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['reconcile.missing']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'payment_method')) = 'object' then case when jsonb_typeof((e.payload -> 'payment_method') -> 'customer_id') = 'string' then nullif((e.payload -> 'payment_method') ->> 'customer_id', '') end end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'customer') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'customer') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['customer.balance_transaction_created']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
  union all
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'subscription' -> 'customer') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
