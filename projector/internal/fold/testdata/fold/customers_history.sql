-- Projection customers_history (version 6) into orb.customers_history: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.balance_transaction_created']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'email', false) as full, 2 as src, case when e.refs is not null and coalesce(o.o ? 'email', false) then (o.o ->> 'fp') end as key
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 3 as src, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['reconcile.missing']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then case when jsonb_typeof(o.o -> 'customer_id') = 'string' then nullif(o.o ->> 'customer_id', '') end end as entity, false as full, 4 as src, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'payment_method' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'customers_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'customers_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."customers_history" v
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
  select b.seq, b.created_at, b.entity, b.full, b.src, b.key from live b, late l where b.entity <> all (l.ids)
  union all
  select r.seq, r.created_at, r.entity, r.full, r.src, r.key
  from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 0 as src, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['customer.balance_transaction_created']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'email', false) as full, 2 as src, case when e.refs is not null and coalesce(o.o ? 'email', false) then (o.o ->> 'fp') end as key
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'customer' as o offset 0) o
    where e.seq <= $2 and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id') = any (l.ids) and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id') is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 3 as src, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'customer' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['reconcile.missing']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then case when jsonb_typeof(o.o -> 'customer_id') = 'string' then nullif(o.o ->> 'customer_id', '') end end as entity, false as full, 4 as src, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'payment_method' as o offset 0) o
    where e.seq <= $2 and ((e.payload -> 'payment_method') ->> 'customer_id') = any (l.ids) and ((e.payload -> 'payment_method') ->> 'customer_id') is not null and e.type = any (array['payment_method.created', 'payment_method.deleted']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'customers_history' and d.seq = r.seq and d.resolved_at is null)
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
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, y.event_id, y.type, y.source, y.full, y.obj, w.key, w.src
  -- Sorted before the objects are read, in the order of every window
  -- after: objects (a plan in every subscription event) are never sorted.
  from (select c.* from cand_lf c order by c.entity, c.created_at, c.seq) w
  -- One index lookup per event, decompressing its payload once (||
  -- returns it detoasted): the object and the sources' Extra read it.
  cross join lateral (
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, case when w.key is null then v.payload || '{}'::jsonb end as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'customer') when 1 then (e.payload -> 'customer') when 2 then (e.payload -> 'subscription' -> 'customer') when 3 then (e.payload -> 'customer') when 4 then (e.payload -> 'payment_method') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 2 then coalesce((x.o) ? 'email', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then x.o
      when w.src = 1 then (x.o) || coalesce(jsonb_strip_nulls(jsonb_build_object('balance', e.payload #> '{properties,balance_transaction,ending_balance}')), '{}'::jsonb)
      when w.src = 2 then case when f.full then x.o else (case when x.o ? 'external_customer_id' then jsonb_build_object('external_customer_id', x.o -> 'external_customer_id') else '{}'::jsonb end) end
      when w.src = 3 then ((case when x.o ? 'missing_from_api_at' then jsonb_build_object('missing_from_api_at', x.o -> 'missing_from_api_at') else '{}'::jsonb end)) || coalesce(jsonb_build_object('missing_from_api_at', e.created_at), '{}'::jsonb)
      when w.src = 4 then ((case when x.o ? 'default_payment_method' then jsonb_build_object('default_payment_method', x.o -> 'default_payment_method') else '{}'::jsonb end)) || coalesce(case when (x.o ->> 'default')::boolean is true then
	jsonb_build_object('default_payment_method', case when e.type = 'payment_method.created' then x.o else 'null'::jsonb end)
	else '{}'::jsonb end, '{}'::jsonb) end as s offset 0) sh
    where e.seq = w.seq
    offset 0
  ) y
),
keyed as (
  -- A full object equal to the full object just before it cannot change
  -- the state (a plan or customer embedded unchanged in every
  -- subscription event): it is left out before anything else, and only
  -- counts as folded (lf_seq, lf_at: the entity's newest event). A keyed
  -- object (key: its fingerprint from refs) is compared by key, and
  -- read from the payload only if kept.
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, w.event_id, w.type, w.source, w.full,
         coalesce(y.obj, w.obj) as obj, w.key, w.src, w.repeated
  from (
    select o.*, coalesce(o.type <> all (array['customer.balance_transaction_created']::text[]) and lag(o.type) over w <> all (array['customer.balance_transaction_created']::text[]) and o.full and lag(o.full) over w and (case when o.key is not null or lag(o.key) over w is not null
      then o.key = lag(o.key) over w and o.src = lag(o.src) over w
      else (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w) end), false) as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) w
  left join lateral (
    select case when (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq and w.key is not null offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'customer') when 1 then (e.payload -> 'customer') when 2 then (e.payload -> 'subscription' -> 'customer') when 3 then (e.payload -> 'customer') when 4 then (e.payload -> 'payment_method') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 2 then coalesce((x.o) ? 'email', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then x.o
      when w.src = 1 then (x.o) || coalesce(jsonb_strip_nulls(jsonb_build_object('balance', e.payload #> '{properties,balance_transaction,ending_balance}')), '{}'::jsonb)
      when w.src = 2 then case when f.full then x.o else (case when x.o ? 'external_customer_id' then jsonb_build_object('external_customer_id', x.o -> 'external_customer_id') else '{}'::jsonb end) end
      when w.src = 3 then ((case when x.o ? 'missing_from_api_at' then jsonb_build_object('missing_from_api_at', x.o -> 'missing_from_api_at') else '{}'::jsonb end)) || coalesce(jsonb_build_object('missing_from_api_at', e.created_at), '{}'::jsonb)
      when w.src = 4 then ((case when x.o ? 'default_payment_method' then jsonb_build_object('default_payment_method', x.o -> 'default_payment_method') else '{}'::jsonb end)) || coalesce(case when (x.o ->> 'default')::boolean is true then
	jsonb_build_object('default_payment_method', case when e.type = 'payment_method.created' then x.o else 'null'::jsonb end)
	else '{}'::jsonb end, '{}'::jsonb) end as s offset 0) sh
    offset 0
  ) y on true
  where not w.repeated
),
objs as (
  -- The rows kept, compared as objects once the keyed ones are read: one
  -- equal to the one before it (from another source, without a key, or
  -- equal as jsonb in other bytes) is left out, as the payload path
  -- leaves it out.
  select o.entity, o.seq, o.created_at, o.lf_seq, o.lf_at, o.event_id, o.type, o.source, o.full,
         o.obj, o.key, o.src, o.repeated
  from (
    select o.*, coalesce(o.type <> all (array['customer.balance_transaction_created']::text[]) and lag(o.type) over w <> all (array['customer.balance_transaction_created']::text[]) and o.full and lag(o.full) over w and (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w), false) as again
    from keyed o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.again
),
folds as (
  -- Every window from here on is w, one order: the rows are sorted once,
  -- while they carry only their objects, and never again.
  select o.entity, o.seq, o.created_at, o.event_id, o.type, o.source, o.lf_seq, o.lf_at, b.entity is not null as has_base, b.row as base, b.tid as base_tid,
         -- A full object starts the fold anew (the base is left out from
         -- the first one on).
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."customers_history" else b.row end,
           case when coalesce(o.full, false) and o.seq = o.lf_seq then coalesce(o.obj, '{}'::jsonb)
             else coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) filter (where not (coalesce(o.full, false) and o.seq = o.lf_seq)) over w, '{}'::jsonb) end) as r0
  from objs o
  left join base b on b.entity = o.entity
  where not o.repeated
  window w as (partition by o.entity order by o.created_at, o.seq)
),
states as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, (select jsonb_populate_record(s.r0, jsonb_build_object('balance', (case when exists (
	select from "orb"."events" h where h.seq = f.last_seq and h.type = 'customer.balance_transaction_created')
then coalesce((
	select min((x.t ->> 'ending_balance')::numeric)
	from "orb"."events" e cross join lateral (select e.payload #> '{properties,balance_transaction}' as t offset 0) x
	where e.type = 'customer.balance_transaction_created' and e.created_at = f.last_at
	  and e.resource_id = f.entity and e.seq <= f.last_seq
	  and not exists (
		select from "orb"."events" n
		where n.type = 'customer.balance_transaction_created' and n.created_at = f.last_at
		  and n.resource_id = f.entity and n.seq <= f.last_seq and n.seq <> e.seq
		  and (n.payload -> 'properties' -> 'balance_transaction' ->> 'starting_balance')::numeric
		      = (x.t ->> 'ending_balance')::numeric)
	having count(*) = 1), r.balance)
else r.balance end)))
     from (select s.entity, s.seq as last_seq, s.created_at as last_at) f, (select (s.r0).*) r) as r from folds s
  -- In folds' order, said again: without an order of its own this level
  -- forgets it, and marked's window sorted every state (whole rows, a
  -- subscription's ~50 KB each) once more, spilling to disk.
  order by s.entity, s.created_at, s.seq
  offset 0 -- Each state computed once: marked's lag(s.r) would compute it again.
),
marked as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r,
         case when s.prev_seq is null then not s.has_base or ((s.r)."auto_collection" is distinct from (s.base)."auto_collection" or (s.r)."auto_issuance" is distinct from (s.base)."auto_issuance" or (s.r)."automatic_tax_enabled" is distinct from (s.base)."automatic_tax_enabled" or (s.r)."balance" is distinct from (s.base)."balance" or (s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."currency" is distinct from (s.base)."currency" or (s.r)."email" is distinct from (s.base)."email" or (s.r)."email_delivery" is distinct from (s.base)."email_delivery" or (s.r)."exempt_from_automated_tax" is distinct from (s.base)."exempt_from_automated_tax" or (s.r)."external_customer_id" is distinct from (s.base)."external_customer_id" or (s.r)."name" is distinct from (s.base)."name" or (s.r)."payment_provider" is distinct from (s.base)."payment_provider" or (s.r)."payment_provider_id" is distinct from (s.base)."payment_provider_id" or (s.r)."portal_url" is distinct from (s.base)."portal_url" or (s.r)."timezone" is distinct from (s.base)."timezone" or (s.r)."missing_from_api_at" is distinct from (s.base)."missing_from_api_at" or (not pg_catalog.record_image_eq(row((s.r)."accounting_sync_configuration"), row((s.base)."accounting_sync_configuration")) and (s.r)."accounting_sync_configuration" is distinct from (s.base)."accounting_sync_configuration") or (not pg_catalog.record_image_eq(row((s.r)."additional_emails"), row((s.base)."additional_emails")) and (s.r)."additional_emails" is distinct from (s.base)."additional_emails") or (not pg_catalog.record_image_eq(row((s.r)."billing_address"), row((s.base)."billing_address")) and (s.r)."billing_address" is distinct from (s.base)."billing_address") or (not pg_catalog.record_image_eq(row((s.r)."default_payment_method"), row((s.base)."default_payment_method")) and (s.r)."default_payment_method" is distinct from (s.base)."default_payment_method") or (not pg_catalog.record_image_eq(row((s.r)."hierarchy"), row((s.base)."hierarchy")) and (s.r)."hierarchy" is distinct from (s.base)."hierarchy") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.base)."metadata")) and (s.r)."metadata" is distinct from (s.base)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."payment_configuration"), row((s.base)."payment_configuration")) and (s.r)."payment_configuration" is distinct from (s.base)."payment_configuration") or (not pg_catalog.record_image_eq(row((s.r)."reporting_configuration"), row((s.base)."reporting_configuration")) and (s.r)."reporting_configuration" is distinct from (s.base)."reporting_configuration") or (not pg_catalog.record_image_eq(row((s.r)."shipping_address"), row((s.base)."shipping_address")) and (s.r)."shipping_address" is distinct from (s.base)."shipping_address") or (not pg_catalog.record_image_eq(row((s.r)."tax_id"), row((s.base)."tax_id")) and (s.r)."tax_id" is distinct from (s.base)."tax_id")) else ((s.r)."auto_collection" is distinct from (s.prev)."auto_collection" or (s.r)."auto_issuance" is distinct from (s.prev)."auto_issuance" or (s.r)."automatic_tax_enabled" is distinct from (s.prev)."automatic_tax_enabled" or (s.r)."balance" is distinct from (s.prev)."balance" or (s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."currency" is distinct from (s.prev)."currency" or (s.r)."email" is distinct from (s.prev)."email" or (s.r)."email_delivery" is distinct from (s.prev)."email_delivery" or (s.r)."exempt_from_automated_tax" is distinct from (s.prev)."exempt_from_automated_tax" or (s.r)."external_customer_id" is distinct from (s.prev)."external_customer_id" or (s.r)."name" is distinct from (s.prev)."name" or (s.r)."payment_provider" is distinct from (s.prev)."payment_provider" or (s.r)."payment_provider_id" is distinct from (s.prev)."payment_provider_id" or (s.r)."portal_url" is distinct from (s.prev)."portal_url" or (s.r)."timezone" is distinct from (s.prev)."timezone" or (s.r)."missing_from_api_at" is distinct from (s.prev)."missing_from_api_at" or (not pg_catalog.record_image_eq(row((s.r)."accounting_sync_configuration"), row((s.prev)."accounting_sync_configuration")) and (s.r)."accounting_sync_configuration" is distinct from (s.prev)."accounting_sync_configuration") or (not pg_catalog.record_image_eq(row((s.r)."additional_emails"), row((s.prev)."additional_emails")) and (s.r)."additional_emails" is distinct from (s.prev)."additional_emails") or (not pg_catalog.record_image_eq(row((s.r)."billing_address"), row((s.prev)."billing_address")) and (s.r)."billing_address" is distinct from (s.prev)."billing_address") or (not pg_catalog.record_image_eq(row((s.r)."default_payment_method"), row((s.prev)."default_payment_method")) and (s.r)."default_payment_method" is distinct from (s.prev)."default_payment_method") or (not pg_catalog.record_image_eq(row((s.r)."hierarchy"), row((s.prev)."hierarchy")) and (s.r)."hierarchy" is distinct from (s.prev)."hierarchy") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.prev)."metadata")) and (s.r)."metadata" is distinct from (s.prev)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."payment_configuration"), row((s.prev)."payment_configuration")) and (s.r)."payment_configuration" is distinct from (s.prev)."payment_configuration") or (not pg_catalog.record_image_eq(row((s.r)."reporting_configuration"), row((s.prev)."reporting_configuration")) and (s.r)."reporting_configuration" is distinct from (s.prev)."reporting_configuration") or (not pg_catalog.record_image_eq(row((s.r)."shipping_address"), row((s.prev)."shipping_address")) and (s.r)."shipping_address" is distinct from (s.prev)."shipping_address") or (not pg_catalog.record_image_eq(row((s.r)."tax_id"), row((s.prev)."tax_id")) and (s.r)."tax_id" is distinct from (s.prev)."tax_id")) end as changed
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
                  case when pg_catalog.record_image_eq(row((m.r)."accounting_sync_configuration"), row((m.base)."accounting_sync_configuration")) then (m.base)."accounting_sync_configuration" else (m.r)."accounting_sync_configuration" end,
                  case when pg_catalog.record_image_eq(row((m.r)."additional_emails"), row((m.base)."additional_emails")) then (m.base)."additional_emails" else (m.r)."additional_emails" end,
                  (m.r)."auto_collection",
                  (m.r)."auto_issuance",
                  (m.r)."automatic_tax_enabled",
                  (m.r)."balance",
                  case when pg_catalog.record_image_eq(row((m.r)."billing_address"), row((m.base)."billing_address")) then (m.base)."billing_address" else (m.r)."billing_address" end,
                  (m.r)."created_at",
                  (m.r)."currency",
                  case when pg_catalog.record_image_eq(row((m.r)."default_payment_method"), row((m.base)."default_payment_method")) then (m.base)."default_payment_method" else (m.r)."default_payment_method" end,
                  (m.r)."email",
                  (m.r)."email_delivery",
                  (m.r)."exempt_from_automated_tax",
                  (m.r)."external_customer_id",
                  case when pg_catalog.record_image_eq(row((m.r)."hierarchy"), row((m.base)."hierarchy")) then (m.base)."hierarchy" else (m.r)."hierarchy" end,
                  case when pg_catalog.record_image_eq(row((m.r)."metadata"), row((m.base)."metadata")) then (m.base)."metadata" else (m.r)."metadata" end,
                  (m.r)."name",
                  case when pg_catalog.record_image_eq(row((m.r)."payment_configuration"), row((m.base)."payment_configuration")) then (m.base)."payment_configuration" else (m.r)."payment_configuration" end,
                  (m.r)."payment_provider",
                  (m.r)."payment_provider_id",
                  (m.r)."portal_url",
                  case when pg_catalog.record_image_eq(row((m.r)."reporting_configuration"), row((m.base)."reporting_configuration")) then (m.base)."reporting_configuration" else (m.r)."reporting_configuration" end,
                  case when pg_catalog.record_image_eq(row((m.r)."shipping_address"), row((m.base)."shipping_address")) then (m.base)."shipping_address" else (m.r)."shipping_address" end,
                  case when pg_catalog.record_image_eq(row((m.r)."tax_id"), row((m.base)."tax_id")) then (m.base)."tax_id" else (m.r)."tax_id" end,
                  (m.r)."timezone",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."missing_from_api_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at"
                )::"orb"."customers_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."customers_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."customers_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
  insert into "orb"."customers_history" ("id", "accounting_sync_configuration", "additional_emails", "auto_collection", "auto_issuance", "automatic_tax_enabled", "balance", "billing_address", "created_at", "currency", "default_payment_method", "email", "email_delivery", "exempt_from_automated_tax", "external_customer_id", "hierarchy", "metadata", "name", "payment_configuration", "payment_provider", "payment_provider_id", "portal_url", "reporting_configuration", "shipping_address", "tax_id", "timezone", "missing_from_api_at", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."accounting_sync_configuration", (v.r)."additional_emails", (v.r)."auto_collection", (v.r)."auto_issuance", (v.r)."automatic_tax_enabled", (v.r)."balance", (v.r)."billing_address", (v.r)."created_at", (v.r)."currency", (v.r)."default_payment_method", (v.r)."email", (v.r)."email_delivery", (v.r)."exempt_from_automated_tax", (v.r)."external_customer_id", (v.r)."hierarchy", (v.r)."metadata", (v.r)."name", (v.r)."payment_configuration", (v.r)."payment_provider", (v.r)."payment_provider_id", (v.r)."portal_url", (v.r)."reporting_configuration", (v.r)."shipping_address", (v.r)."tax_id", (v.r)."timezone", (v.r)."missing_from_api_at", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['customer.accounting_sync_failed', 'customer.accounting_sync_succeeded', 'customer.created', 'customer.credit_balance_depleted', 'customer.credit_balance_dropped', 'customer.credit_balance_recovered', 'customer.credit_ledger_incremented', 'customer.edited', 'snapshot.customer', 'customer.balance_transaction_created', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'reconcile.missing', 'payment_method.created', 'payment_method.deleted']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'customers_history' and d.seq = e.seq and d.resolved_at is null)
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
-- (none)
