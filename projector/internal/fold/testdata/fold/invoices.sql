-- Projection invoices (version 3) into orb.invoices: generated from the catalog
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
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'invoices', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, t.last_event_at, t.last_event_seq
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: a join could be planned as a scan of
  -- the whole table (e.g. before it is first analyzed).
  cross join lateral (select t.last_event_at, t.last_event_seq from "orb"."invoices" t where t."id" = c.entity offset 0) t
),
stale as materialized (
  select b.seq, b.entity from live b join cur t on t.entity = b.entity
  where (b.created_at, b.seq) < (t.last_event_at, t.last_event_seq)
    and exists (
      select 1 from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, coalesce(o.o ? 'line_items', false) as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['invoice.invoice_date_elapsed']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 2 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'invoice' as o offset 0) o
    where e.seq = t.last_event_seq and e.type = any (array['invoice.automation_schedule_step_executed']::text[])
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
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices' and d.seq = r.seq and d.resolved_at is null)
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
         count(jsonb_populate_record(null::"orb"."invoices", y.obj)) filter (where w.wsize > 1) as checked
  from windowed w
  -- One index lookup per event in a window (a join could be planned as a
  -- scan of the whole log), reading its object once.
  cross join lateral (
    select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when w.full then x.o else x.o end
      when w.src = 1 then ((case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end || case when x.o ? 'invoice_number' then jsonb_build_object('invoice_number', x.o -> 'invoice_number') else '{}'::jsonb end || case when x.o ? 'customer' then jsonb_build_object('customer', x.o -> 'customer') else '{}'::jsonb end || case when x.o ? 'subscription' then jsonb_build_object('subscription', x.o -> 'subscription') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object('invoice_date', e.payload #> '{properties,invoice_date}')), '{}'::jsonb)
      when w.src = 2 then ((case when x.o ? 'amount_due' then jsonb_build_object('amount_due', x.o -> 'amount_due') else '{}'::jsonb end || case when x.o ? 'currency' then jsonb_build_object('currency', x.o -> 'currency') else '{}'::jsonb end || case when x.o ? 'due_date' then jsonb_build_object('due_date', x.o -> 'due_date') else '{}'::jsonb end || case when x.o ? 'hosted_invoice_url' then jsonb_build_object('hosted_invoice_url', x.o -> 'hosted_invoice_url') else '{}'::jsonb end || case when x.o ? 'invoice_date' then jsonb_build_object('invoice_date', x.o -> 'invoice_date') else '{}'::jsonb end || case when x.o ? 'invoice_number' then jsonb_build_object('invoice_number', x.o -> 'invoice_number') else '{}'::jsonb end || case when x.o ? 'issued_at' then jsonb_build_object('issued_at', x.o -> 'issued_at') else '{}'::jsonb end || case when x.o ? 'memo' then jsonb_build_object('memo', x.o -> 'memo') else '{}'::jsonb end || case when x.o ? 'status' then jsonb_build_object('status', x.o -> 'status') else '{}'::jsonb end)) || coalesce(jsonb_strip_nulls(jsonb_build_object(
				'customer', case when x.o ->> 'customer_id' is not null then jsonb_build_object('id', x.o -> 'customer_id',
					'external_customer_id', x.o -> 'external_customer_id') end,
				'subscription', case when x.o ->> 'subscription_id' is not null then jsonb_build_object('id', x.o -> 'subscription_id') end)), '{}'::jsonb) end as obj
    from "orb"."events" e cross join lateral (select case w.src when 0 then (e.payload -> 'invoice') when 1 then (e.payload -> 'invoice') when 2 then (e.payload -> 'invoice') end as o offset 0) x
    where e.seq = w.seq
    offset 0
  ) y
  where w.rn <= w.wsize
  group by w.entity
),
written as (
  insert into "orb"."invoices" ("id", "amount_due", "auto_collection", "billing_address", "created_at", "credit_notes", "currency", "customer", "customer_balance_transactions", "customer_tax_id", "discount", "discounts", "due_date", "eligible_to_issue_at", "hosted_invoice_url", "invoice_date", "invoice_number", "invoice_pdf", "invoice_source", "issue_failed_at", "issued_at", "line_items", "maximum", "maximum_amount", "memo", "metadata", "minimum", "minimum_amount", "paid_at", "payment_attempts", "payment_failed_at", "payment_started_at", "scheduled_issue_at", "shipping_address", "status", "subscription", "subtotal", "sync_failed_at", "total", "voided_at", "will_auto_issue", "last_event_id", "last_event_seq", "last_event_at")
  select f.entity, r."amount_due", case when record_image_eq(row(r."auto_collection"), row(t."auto_collection")) then t."auto_collection" else r."auto_collection" end, case when record_image_eq(row(r."billing_address"), row(t."billing_address")) then t."billing_address" else r."billing_address" end, r."created_at", case when record_image_eq(row(r."credit_notes"), row(t."credit_notes")) then t."credit_notes" else r."credit_notes" end, r."currency", case when record_image_eq(row(r."customer"), row(t."customer")) then t."customer" else r."customer" end, case when record_image_eq(row(r."customer_balance_transactions"), row(t."customer_balance_transactions")) then t."customer_balance_transactions" else r."customer_balance_transactions" end, case when record_image_eq(row(r."customer_tax_id"), row(t."customer_tax_id")) then t."customer_tax_id" else r."customer_tax_id" end, case when record_image_eq(row(r."discount"), row(t."discount")) then t."discount" else r."discount" end, case when record_image_eq(row(r."discounts"), row(t."discounts")) then t."discounts" else r."discounts" end, r."due_date", r."eligible_to_issue_at", r."hosted_invoice_url", r."invoice_date", r."invoice_number", r."invoice_pdf", r."invoice_source", r."issue_failed_at", r."issued_at", case when record_image_eq(row(r."line_items"), row(t."line_items")) then t."line_items" else r."line_items" end, case when record_image_eq(row(r."maximum"), row(t."maximum")) then t."maximum" else r."maximum" end, r."maximum_amount", r."memo", case when record_image_eq(row(r."metadata"), row(t."metadata")) then t."metadata" else r."metadata" end, case when record_image_eq(row(r."minimum"), row(t."minimum")) then t."minimum" else r."minimum" end, r."minimum_amount", r."paid_at", case when record_image_eq(row(r."payment_attempts"), row(t."payment_attempts")) then t."payment_attempts" else r."payment_attempts" end, r."payment_failed_at", r."payment_started_at", r."scheduled_issue_at", case when record_image_eq(row(r."shipping_address"), row(t."shipping_address")) then t."shipping_address" else r."shipping_address" end, r."status", case when record_image_eq(row(r."subscription"), row(t."subscription")) then t."subscription" else r."subscription" end, r."subtotal", r."sync_failed_at", r."total", r."voided_at", r."will_auto_issue", f.last_id, f.last_seq, f.last_at
  from folded f
  left join "orb"."invoices" t on t."id" = f.entity
  cross join lateral jsonb_populate_record(case when f.reset or t."id" is null then null::"orb"."invoices" else row(t."id", t."amount_due", t."auto_collection", t."billing_address", t."created_at", t."credit_notes", t."currency", t."customer", t."customer_balance_transactions", t."customer_tax_id", t."discount", t."discounts", t."due_date", t."eligible_to_issue_at", t."hosted_invoice_url", t."invoice_date", t."invoice_number", t."invoice_pdf", t."invoice_source", t."issue_failed_at", t."issued_at", t."line_items", t."maximum", t."maximum_amount", t."memo", t."metadata", t."minimum", t."minimum_amount", t."paid_at", t."payment_attempts", t."payment_failed_at", t."payment_started_at", t."scheduled_issue_at", t."shipping_address", t."status", t."subscription", t."subtotal", t."sync_failed_at", t."total", t."voided_at", t."will_auto_issue", t."customer_id", t."external_customer_id", t."subscription_id", t."last_event_id", t."last_event_seq", t."last_event_at")::"orb"."invoices" end,
                                           coalesce(f.obj, '{}'::jsonb)) r
  where f.checked >= 0 -- Always true; keeps the check above from being optimized away.
  on conflict ("id") do update set "amount_due" = excluded."amount_due", "auto_collection" = excluded."auto_collection", "billing_address" = excluded."billing_address", "created_at" = excluded."created_at", "credit_notes" = excluded."credit_notes", "currency" = excluded."currency", "customer" = excluded."customer", "customer_balance_transactions" = excluded."customer_balance_transactions", "customer_tax_id" = excluded."customer_tax_id", "discount" = excluded."discount", "discounts" = excluded."discounts", "due_date" = excluded."due_date", "eligible_to_issue_at" = excluded."eligible_to_issue_at", "hosted_invoice_url" = excluded."hosted_invoice_url", "invoice_date" = excluded."invoice_date", "invoice_number" = excluded."invoice_number", "invoice_pdf" = excluded."invoice_pdf", "invoice_source" = excluded."invoice_source", "issue_failed_at" = excluded."issue_failed_at", "issued_at" = excluded."issued_at", "line_items" = excluded."line_items", "maximum" = excluded."maximum", "maximum_amount" = excluded."maximum_amount", "memo" = excluded."memo", "metadata" = excluded."metadata", "minimum" = excluded."minimum", "minimum_amount" = excluded."minimum_amount", "paid_at" = excluded."paid_at", "payment_attempts" = excluded."payment_attempts", "payment_failed_at" = excluded."payment_failed_at", "payment_started_at" = excluded."payment_started_at", "scheduled_issue_at" = excluded."scheduled_issue_at", "shipping_address" = excluded."shipping_address", "status" = excluded."status", "subscription" = excluded."subscription", "subtotal" = excluded."subtotal", "sync_failed_at" = excluded."sync_failed_at", "total" = excluded."total", "voided_at" = excluded."voided_at", "will_auto_issue" = excluded."will_auto_issue", "last_event_id" = excluded."last_event_id", "last_event_seq" = excluded."last_event_seq", "last_event_at" = excluded."last_event_at"
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice', 'invoice.invoice_date_elapsed', 'invoice.automation_schedule_step_executed']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'invoices' and d.seq = e.seq and d.resolved_at is null)
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
select distinct u.k from (
  select jsonb_object_keys(x.o) as k from (
    select (e.payload -> 'invoice') as o from "orb"."events" e
    where e.seq = (select max(e2.seq) from "orb"."events" e2 where e2.seq > $1 and e2.seq <= $2 and e2.type = any (array['invoice.accounting_sync_failed', 'invoice.accounting_sync_succeeded', 'invoice.dunning_schedule_created', 'invoice.dunning_schedule_ended', 'invoice.dunning_schedule_reset', 'invoice.dunning_schedule_step_executed', 'invoice.edited', 'invoice.issue_failed', 'invoice.issued', 'invoice.issued_summary', 'invoice.manually_marked_as_paid', 'invoice.manually_marked_as_void', 'invoice.payment_failed', 'invoice.payment_processing', 'invoice.payment_succeeded', 'invoice.sync_failed', 'invoice.sync_succeeded', 'invoice.undo_mark_as_paid', 'sales_order.accounting_sync_failed', 'sales_order.accounting_sync_succeeded', 'snapshot.invoice']::text[]))
  ) x where jsonb_typeof(x.o) = 'object'
) u;
