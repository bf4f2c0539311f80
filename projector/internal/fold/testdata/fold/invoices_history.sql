-- Projection invoices_history (version 3) into orb.invoices_history: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'line_items', false) as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['invoice.invoice_date_elapsed']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 2 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['invoice.automation_schedule_step_executed']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'invoices_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
    when x.t <> 'object' then 'the event''s ' || x.name || ' is '
      || case x.t when 'null' then 'null' when 'array' then 'an array' else 'a ' || x.t end || ', not an object'
    else 'the event names no ' || 'id' || ' this projection can find' end
  from ranked b join "orb"."events" e on e.seq = b.seq
  cross join lateral (select jsonb_typeof(case b.src when 0 then e.payload -> 'invoice' when 1 then e.payload -> 'invoice' when 2 then e.payload -> 'invoice' end) as t, case b.src when 0 then 'invoice' when 1 then 'invoice' when 2 then 'invoice' end as name) x
  where b.entity is null and b.src = any (array[0, 1, 2]::int[])
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
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."invoices_history" v
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
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'line_items', false) as full, 0 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['invoice.invoice_date_elapsed']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 2 as src
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['invoice.automation_schedule_step_executed']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices_history' and d.seq = r.seq and d.resolved_at is null)
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
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'invoice') when 1 then (e.payload -> 'invoice') when 2 then (e.payload -> 'invoice') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 0 then coalesce((x.o) ? 'line_items', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when f.full then x.o else x.o end
      when w.src = 1 then ((case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end || case when x.o ? 'invoice_number' then jsonb_build_object('invoice_number', x.o -> 'invoice_number') else '{}'::jsonb end || case when x.o ? 'customer' then jsonb_build_object('customer', x.o -> 'customer') else '{}'::jsonb end || case when x.o ? 'subscription' then jsonb_build_object('subscription', x.o -> 'subscription') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object('invoice_date', e.payload #> '{properties,invoice_date}')), '{}'::jsonb)
      when w.src = 2 then ((case when x.o ? 'amount_due' then jsonb_build_object('amount_due', x.o -> 'amount_due') else '{}'::jsonb end || case when x.o ? 'currency' then jsonb_build_object('currency', x.o -> 'currency') else '{}'::jsonb end || case when x.o ? 'due_date' then jsonb_build_object('due_date', x.o -> 'due_date') else '{}'::jsonb end || case when x.o ? 'hosted_invoice_url' then jsonb_build_object('hosted_invoice_url', x.o -> 'hosted_invoice_url') else '{}'::jsonb end || case when x.o ? 'invoice_date' then jsonb_build_object('invoice_date', x.o -> 'invoice_date') else '{}'::jsonb end || case when x.o ? 'invoice_number' then jsonb_build_object('invoice_number', x.o -> 'invoice_number') else '{}'::jsonb end || case when x.o ? 'issued_at' then jsonb_build_object('issued_at', x.o -> 'issued_at') else '{}'::jsonb end || case when x.o ? 'memo' then jsonb_build_object('memo', x.o -> 'memo') else '{}'::jsonb end || case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object(
				'customer', case when x.o ->> 'customer_id' is not null then jsonb_build_object('id', x.o -> 'customer_id',
					'external_customer_id', x.o -> 'external_customer_id') end,
				'subscription', case when x.o ->> 'subscription_id' is not null then jsonb_build_object('id', x.o -> 'subscription_id') end)), '{}'::jsonb) end as s offset 0) sh
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
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."invoices_history" else b.row end,
           case when coalesce(o.full, false) and o.seq = o.lf_seq then coalesce(o.obj, '{}'::jsonb)
             else coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) filter (where not (coalesce(o.full, false) and o.seq = o.lf_seq)) over w, '{}'::jsonb) end) as r0
  from objs o
  left join base b on b.entity = o.entity
  where not o.repeated
  window w as (partition by o.entity order by o.created_at, o.seq)
),
states as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r0 as r from folds s
  -- In folds' order, said again: without an order of its own this level
  -- forgets it, and marked's window sorted every state (whole rows, a
  -- subscription's ~50 KB each) once more, spilling to disk.
  order by s.entity, s.created_at, s.seq
  offset 0 -- Each state computed once: marked's lag(s.r) would compute it again.
),
marked as (
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at, s.has_base, s.base, s.base_tid, s.r,
         case when s.prev_seq is null then not s.has_base or ((s.r)."amount_due" is distinct from (s.base)."amount_due" or (s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."currency" is distinct from (s.base)."currency" or (s.r)."due_date" is distinct from (s.base)."due_date" or (s.r)."eligible_to_issue_at" is distinct from (s.base)."eligible_to_issue_at" or (s.r)."hosted_invoice_url" is distinct from (s.base)."hosted_invoice_url" or (s.r)."invoice_date" is distinct from (s.base)."invoice_date" or (s.r)."invoice_number" is distinct from (s.base)."invoice_number" or (s.r)."invoice_pdf" is distinct from (s.base)."invoice_pdf" or (s.r)."invoice_source" is distinct from (s.base)."invoice_source" or (s.r)."issue_failed_at" is distinct from (s.base)."issue_failed_at" or (s.r)."issued_at" is distinct from (s.base)."issued_at" or (s.r)."maximum_amount" is distinct from (s.base)."maximum_amount" or (s.r)."memo" is distinct from (s.base)."memo" or (s.r)."minimum_amount" is distinct from (s.base)."minimum_amount" or (s.r)."paid_at" is distinct from (s.base)."paid_at" or (s.r)."payment_failed_at" is distinct from (s.base)."payment_failed_at" or (s.r)."payment_started_at" is distinct from (s.base)."payment_started_at" or (s.r)."scheduled_issue_at" is distinct from (s.base)."scheduled_issue_at" or (s.r)."status" is distinct from (s.base)."status" or (s.r)."subtotal" is distinct from (s.base)."subtotal" or (s.r)."sync_failed_at" is distinct from (s.base)."sync_failed_at" or (s.r)."total" is distinct from (s.base)."total" or (s.r)."voided_at" is distinct from (s.base)."voided_at" or (s.r)."will_auto_issue" is distinct from (s.base)."will_auto_issue" or (not pg_catalog.record_image_eq(row((s.r)."auto_collection"), row((s.base)."auto_collection")) and (s.r)."auto_collection" is distinct from (s.base)."auto_collection") or (not pg_catalog.record_image_eq(row((s.r)."billing_address"), row((s.base)."billing_address")) and (s.r)."billing_address" is distinct from (s.base)."billing_address") or (not pg_catalog.record_image_eq(row((s.r)."credit_notes"), row((s.base)."credit_notes")) and (s.r)."credit_notes" is distinct from (s.base)."credit_notes") or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.base)."customer")) and (s.r)."customer" is distinct from (s.base)."customer") or (not pg_catalog.record_image_eq(row((s.r)."customer_balance_transactions"), row((s.base)."customer_balance_transactions")) and (s.r)."customer_balance_transactions" is distinct from (s.base)."customer_balance_transactions") or (not pg_catalog.record_image_eq(row((s.r)."customer_tax_id"), row((s.base)."customer_tax_id")) and (s.r)."customer_tax_id" is distinct from (s.base)."customer_tax_id") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.base)."discount")) and (s.r)."discount" is distinct from (s.base)."discount") or (not pg_catalog.record_image_eq(row((s.r)."discounts"), row((s.base)."discounts")) and (s.r)."discounts" is distinct from (s.base)."discounts") or (not pg_catalog.record_image_eq(row((s.r)."line_items"), row((s.base)."line_items")) and (s.r)."line_items" is distinct from (s.base)."line_items") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.base)."maximum")) and (s.r)."maximum" is distinct from (s.base)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.base)."metadata")) and (s.r)."metadata" is distinct from (s.base)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.base)."minimum")) and (s.r)."minimum" is distinct from (s.base)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."payment_attempts"), row((s.base)."payment_attempts")) and (s.r)."payment_attempts" is distinct from (s.base)."payment_attempts") or (not pg_catalog.record_image_eq(row((s.r)."shipping_address"), row((s.base)."shipping_address")) and (s.r)."shipping_address" is distinct from (s.base)."shipping_address") or (not pg_catalog.record_image_eq(row((s.r)."subscription"), row((s.base)."subscription")) and (s.r)."subscription" is distinct from (s.base)."subscription")) else ((s.r)."amount_due" is distinct from (s.prev)."amount_due" or (s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."currency" is distinct from (s.prev)."currency" or (s.r)."due_date" is distinct from (s.prev)."due_date" or (s.r)."eligible_to_issue_at" is distinct from (s.prev)."eligible_to_issue_at" or (s.r)."hosted_invoice_url" is distinct from (s.prev)."hosted_invoice_url" or (s.r)."invoice_date" is distinct from (s.prev)."invoice_date" or (s.r)."invoice_number" is distinct from (s.prev)."invoice_number" or (s.r)."invoice_pdf" is distinct from (s.prev)."invoice_pdf" or (s.r)."invoice_source" is distinct from (s.prev)."invoice_source" or (s.r)."issue_failed_at" is distinct from (s.prev)."issue_failed_at" or (s.r)."issued_at" is distinct from (s.prev)."issued_at" or (s.r)."maximum_amount" is distinct from (s.prev)."maximum_amount" or (s.r)."memo" is distinct from (s.prev)."memo" or (s.r)."minimum_amount" is distinct from (s.prev)."minimum_amount" or (s.r)."paid_at" is distinct from (s.prev)."paid_at" or (s.r)."payment_failed_at" is distinct from (s.prev)."payment_failed_at" or (s.r)."payment_started_at" is distinct from (s.prev)."payment_started_at" or (s.r)."scheduled_issue_at" is distinct from (s.prev)."scheduled_issue_at" or (s.r)."status" is distinct from (s.prev)."status" or (s.r)."subtotal" is distinct from (s.prev)."subtotal" or (s.r)."sync_failed_at" is distinct from (s.prev)."sync_failed_at" or (s.r)."total" is distinct from (s.prev)."total" or (s.r)."voided_at" is distinct from (s.prev)."voided_at" or (s.r)."will_auto_issue" is distinct from (s.prev)."will_auto_issue" or (not pg_catalog.record_image_eq(row((s.r)."auto_collection"), row((s.prev)."auto_collection")) and (s.r)."auto_collection" is distinct from (s.prev)."auto_collection") or (not pg_catalog.record_image_eq(row((s.r)."billing_address"), row((s.prev)."billing_address")) and (s.r)."billing_address" is distinct from (s.prev)."billing_address") or (not pg_catalog.record_image_eq(row((s.r)."credit_notes"), row((s.prev)."credit_notes")) and (s.r)."credit_notes" is distinct from (s.prev)."credit_notes") or (not pg_catalog.record_image_eq(row((s.r)."customer"), row((s.prev)."customer")) and (s.r)."customer" is distinct from (s.prev)."customer") or (not pg_catalog.record_image_eq(row((s.r)."customer_balance_transactions"), row((s.prev)."customer_balance_transactions")) and (s.r)."customer_balance_transactions" is distinct from (s.prev)."customer_balance_transactions") or (not pg_catalog.record_image_eq(row((s.r)."customer_tax_id"), row((s.prev)."customer_tax_id")) and (s.r)."customer_tax_id" is distinct from (s.prev)."customer_tax_id") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.prev)."discount")) and (s.r)."discount" is distinct from (s.prev)."discount") or (not pg_catalog.record_image_eq(row((s.r)."discounts"), row((s.prev)."discounts")) and (s.r)."discounts" is distinct from (s.prev)."discounts") or (not pg_catalog.record_image_eq(row((s.r)."line_items"), row((s.prev)."line_items")) and (s.r)."line_items" is distinct from (s.prev)."line_items") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.prev)."maximum")) and (s.r)."maximum" is distinct from (s.prev)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.prev)."metadata")) and (s.r)."metadata" is distinct from (s.prev)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.prev)."minimum")) and (s.r)."minimum" is distinct from (s.prev)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."payment_attempts"), row((s.prev)."payment_attempts")) and (s.r)."payment_attempts" is distinct from (s.prev)."payment_attempts") or (not pg_catalog.record_image_eq(row((s.r)."shipping_address"), row((s.prev)."shipping_address")) and (s.r)."shipping_address" is distinct from (s.prev)."shipping_address") or (not pg_catalog.record_image_eq(row((s.r)."subscription"), row((s.prev)."subscription")) and (s.r)."subscription" is distinct from (s.prev)."subscription")) end as changed
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
                  (m.r)."amount_due",
                  case when pg_catalog.record_image_eq(row((m.r)."auto_collection"), row((m.base)."auto_collection")) then (m.base)."auto_collection" else (m.r)."auto_collection" end,
                  case when pg_catalog.record_image_eq(row((m.r)."billing_address"), row((m.base)."billing_address")) then (m.base)."billing_address" else (m.r)."billing_address" end,
                  (m.r)."created_at",
                  case when pg_catalog.record_image_eq(row((m.r)."credit_notes"), row((m.base)."credit_notes")) then (m.base)."credit_notes" else (m.r)."credit_notes" end,
                  (m.r)."currency",
                  case when pg_catalog.record_image_eq(row((m.r)."customer"), row((m.base)."customer")) then (m.base)."customer" else (m.r)."customer" end,
                  case when pg_catalog.record_image_eq(row((m.r)."customer_balance_transactions"), row((m.base)."customer_balance_transactions")) then (m.base)."customer_balance_transactions" else (m.r)."customer_balance_transactions" end,
                  case when pg_catalog.record_image_eq(row((m.r)."customer_tax_id"), row((m.base)."customer_tax_id")) then (m.base)."customer_tax_id" else (m.r)."customer_tax_id" end,
                  case when pg_catalog.record_image_eq(row((m.r)."discount"), row((m.base)."discount")) then (m.base)."discount" else (m.r)."discount" end,
                  case when pg_catalog.record_image_eq(row((m.r)."discounts"), row((m.base)."discounts")) then (m.base)."discounts" else (m.r)."discounts" end,
                  (m.r)."due_date",
                  (m.r)."eligible_to_issue_at",
                  (m.r)."hosted_invoice_url",
                  (m.r)."invoice_date",
                  (m.r)."invoice_number",
                  (m.r)."invoice_pdf",
                  (m.r)."invoice_source",
                  (m.r)."issue_failed_at",
                  (m.r)."issued_at",
                  case when pg_catalog.record_image_eq(row((m.r)."line_items"), row((m.base)."line_items")) then (m.base)."line_items" else (m.r)."line_items" end,
                  case when pg_catalog.record_image_eq(row((m.r)."maximum"), row((m.base)."maximum")) then (m.base)."maximum" else (m.r)."maximum" end,
                  (m.r)."maximum_amount",
                  (m.r)."memo",
                  case when pg_catalog.record_image_eq(row((m.r)."metadata"), row((m.base)."metadata")) then (m.base)."metadata" else (m.r)."metadata" end,
                  case when pg_catalog.record_image_eq(row((m.r)."minimum"), row((m.base)."minimum")) then (m.base)."minimum" else (m.r)."minimum" end,
                  (m.r)."minimum_amount",
                  (m.r)."paid_at",
                  case when pg_catalog.record_image_eq(row((m.r)."payment_attempts"), row((m.base)."payment_attempts")) then (m.base)."payment_attempts" else (m.r)."payment_attempts" end,
                  (m.r)."payment_failed_at",
                  (m.r)."payment_started_at",
                  (m.r)."scheduled_issue_at",
                  case when pg_catalog.record_image_eq(row((m.r)."shipping_address"), row((m.base)."shipping_address")) then (m.base)."shipping_address" else (m.r)."shipping_address" end,
                  (m.r)."status",
                  case when pg_catalog.record_image_eq(row((m.r)."subscription"), row((m.base)."subscription")) then (m.base)."subscription" else (m.r)."subscription" end,
                  (m.r)."subtotal",
                  (m.r)."sync_failed_at",
                  (m.r)."total",
                  (m.r)."voided_at",
                  (m.r)."will_auto_issue",
                  (m.r)."customer_id",
                  (m.r)."external_customer_id",
                  (m.r)."subscription_id",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at"
                )::"orb"."invoices_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."invoices_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."invoices_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
  insert into "orb"."invoices_history" ("id", "amount_due", "auto_collection", "billing_address", "created_at", "credit_notes", "currency", "customer", "customer_balance_transactions", "customer_tax_id", "discount", "discounts", "due_date", "eligible_to_issue_at", "hosted_invoice_url", "invoice_date", "invoice_number", "invoice_pdf", "invoice_source", "issue_failed_at", "issued_at", "line_items", "maximum", "maximum_amount", "memo", "metadata", "minimum", "minimum_amount", "paid_at", "payment_attempts", "payment_failed_at", "payment_started_at", "scheduled_issue_at", "shipping_address", "status", "subscription", "subtotal", "sync_failed_at", "total", "voided_at", "will_auto_issue", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."amount_due", (v.r)."auto_collection", (v.r)."billing_address", (v.r)."created_at", (v.r)."credit_notes", (v.r)."currency", (v.r)."customer", (v.r)."customer_balance_transactions", (v.r)."customer_tax_id", (v.r)."discount", (v.r)."discounts", (v.r)."due_date", (v.r)."eligible_to_issue_at", (v.r)."hosted_invoice_url", (v.r)."invoice_date", (v.r)."invoice_number", (v.r)."invoice_pdf", (v.r)."invoice_source", (v.r)."issue_failed_at", (v.r)."issued_at", (v.r)."line_items", (v.r)."maximum", (v.r)."maximum_amount", (v.r)."memo", (v.r)."metadata", (v.r)."minimum", (v.r)."minimum_amount", (v.r)."paid_at", (v.r)."payment_attempts", (v.r)."payment_failed_at", (v.r)."payment_started_at", (v.r)."scheduled_issue_at", (v.r)."shipping_address", (v.r)."status", (v.r)."subscription", (v.r)."subtotal", (v.r)."sync_failed_at", (v.r)."total", (v.r)."voided_at", (v.r)."will_auto_issue", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice', 'invoice.invoice_date_elapsed', 'invoice.automation_schedule_step_executed']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices_history' and d.seq = e.seq and d.resolved_at is null)
order by e.seq;

-- name: entities: entity ids of positions $1
select distinct x.entity from (
  select case when jsonb_typeof((e.payload -> 'invoice')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'invoice')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['invoice.invoice_date_elapsed']::text[])
  union all
  select case when jsonb_typeof((e.payload -> 'invoice')) = 'object' then e.resource_id end as entity from "orb"."events" e where e.seq = any ($1::bigint[]) and e.type = any (array['invoice.automation_schedule_step_executed']::text[])
) x where x.entity is not null;

-- name: sample: top-level keys of the newest full objects in ($1, $2]
-- (none)
