-- Projection plans_history (version 5) into orb.plans_history: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'prices', false) as full, 0 as src, case when coalesce(o.o ? 'prices', false) and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver, case when e.refs is not null and coalesce(o.o ? 'prices', false) then (o.o ->> 'fp') end as key
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, case when true and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 2 as src, case when jsonb_typeof((e.payload #> '{properties,new_default_version_number}')) = 'number' then ((e.payload #> '{properties,new_default_version_number}') #>> '{}')::numeric end as ver, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['plan.default_version_set']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 3 as src, null::numeric as ver, null::text as key
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['plan.version_created']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plans_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'plans_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."plans_history" v
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
    union
    select b.entity from live b where b.src = any (array[2]::int[])
  ) as ids
),
cand as (
  select b.seq, b.created_at, b.entity, b.full, b.src, b.ver, b.key from live b, late l where b.entity <> all (l.ids)
  union all
  select r.seq, r.created_at, r.entity, r.full, r.src, r.ver, r.key
  from (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, coalesce(o.o ? 'prices', false) as full, 0 as src, case when coalesce(o.o ? 'prices', false) and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver, case when e.refs is not null and coalesce(o.o ? 'prices', false) then (o.o ->> 'fp') end as key
    from "orb"."events" e cross join late l cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') = any (l.ids) and ((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id') is not null and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src, case when true and jsonb_typeof(o.o -> 'version') = 'number' then (o.o -> 'version' #>> '{}')::numeric end as ver, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and e.resource_id = any (l.ids) and e.resource_id is not null and e.type = any (array['snapshot.plan']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 2 as src, case when jsonb_typeof((e.payload #> '{properties,new_default_version_number}')) = 'number' then ((e.payload #> '{properties,new_default_version_number}') #>> '{}')::numeric end as ver, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((e.resource_id = any (l.ids) and e.resource_id is not null) or (e.resource_id is null and case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end = any (l.ids))) and e.type = any (array['plan.default_version_set']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = (o.o) ->> 'external_plan_id' order by p.id limit 1)) end as entity, false as full, 3 as src, null::numeric as ver, null::text as key
    from "orb"."events" e cross join late l cross join lateral (select e.payload -> 'plan' as o offset 0) o
    where e.seq <= $2 and ((e.resource_id = any (l.ids) and e.resource_id is not null) or (e.resource_id is null and case when jsonb_typeof((e.payload -> 'plan')) = 'object' then coalesce(e.resource_id, (select p.id from "orb".plans p
	where p.external_plan_id = ((e.payload -> 'plan')) ->> 'external_plan_id' order by p.id limit 1)) end = any (l.ids))) and e.type = any (array['plan.version_created']::text[])
  ) r
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'plans_history' and d.seq = r.seq and d.resolved_at is null)
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
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, y.event_id, y.type, y.source, y.full, y.obj, w.ver, w.src, w.key
  -- Sorted before the objects are read, in the order of every window
  -- after: objects (a plan in every subscription event) are never sorted.
  from (select c.* from cand_lf c order by c.entity, c.created_at, c.seq) w
  -- One index lookup per event, decompressing its payload once (||
  -- returns it detoasted): the object and the sources' Extra read it.
  cross join lateral (
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'net_terms') = 'number' and (sh.s ->> 'net_terms') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'version') = 'number' and (sh.s ->> 'version') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'default_version') = 'number' and (sh.s ->> 'default_version') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'latest_version') = 'number' and (sh.s ->> 'latest_version') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['net_terms', 'version', 'folded_seq', 'default_version', 'latest_version']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, case when w.key is null then v.payload || '{}'::jsonb end as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'subscription' -> 'plan') when 1 then (e.payload -> 'plan') when 2 then (e.payload -> 'plan') when 3 then (e.payload -> 'plan') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 0 then coalesce((x.o) ? 'prices', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when f.full then x.o else (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end
      when w.src = 1 then x.o
      when w.src = 2 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end)
      when w.src = 3 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end as s offset 0) sh
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
         coalesce(y.obj, w.obj) as obj, w.ver, w.src, w.key, w.repeated
  from (
    select o.*, (coalesce(o.full and lag(o.full) over w and (case when o.key is not null or lag(o.key) over w is not null
      then o.key = lag(o.key) over w and o.src = lag(o.src) over w
      else (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w) end), false) and coalesce(o.src <> all (array[2]::int[]) and lag(o.src) over w <> all (array[2]::int[]) and o.ver is not distinct from lag(o.ver) over w, false)) as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) w
  left join lateral (
    select case when (jsonb_typeof(sh.s -> 'net_terms') = 'number' and (sh.s ->> 'net_terms') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'version') = 'number' and (sh.s ->> 'version') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'default_version') = 'number' and (sh.s ->> 'default_version') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'latest_version') = 'number' and (sh.s ->> 'latest_version') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['net_terms', 'version', 'folded_seq', 'default_version', 'latest_version']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq and w.key is not null offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'subscription' -> 'plan') when 1 then (e.payload -> 'plan') when 2 then (e.payload -> 'plan') when 3 then (e.payload -> 'plan') end as o offset 0) x
    cross join lateral (select coalesce(w.full, case w.src when 0 then coalesce((x.o) ? 'prices', false) else false end) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then case when f.full then x.o else (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end
      when w.src = 1 then x.o
      when w.src = 2 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end)
      when w.src = 3 then (case when x.o ? 'name' then jsonb_build_object('name', x.o -> 'name') else '{}'::jsonb end || case when x.o ? 'external_plan_id' then jsonb_build_object('external_plan_id', x.o -> 'external_plan_id') else '{}'::jsonb end) end as s offset 0) sh
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
         o.obj, o.ver, o.src, o.key, o.repeated
  from (
    select o.*, (coalesce(o.full and lag(o.full) over w and (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w), false) and coalesce(o.src <> all (array[2]::int[]) and lag(o.src) over w <> all (array[2]::int[]) and o.ver is not distinct from lag(o.ver) over w, false)) as again
    from keyed o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.again
),
pin_firsts as (
  select distinct on (o.entity, o.ver) o.entity, o.ver, o.created_at, o.seq
  from objs o where o.ver is not null and o.src <> all (array[2]::int[])
  order by o.entity, o.ver, o.created_at, o.seq
),
pin_steps as (
  select o.*, b.row as base_row,
         case when o.dgrp > 0 then first_value(o.ver) over (partition by o.entity, o.dgrp order by o.created_at, o.seq)
              else (b.row)."default_version" end as dflt,
         greatest((b.row)."latest_version", o.run_max) as maxv
  from (
    select o.*, count(*) filter (where o.src = any (array[2]::int[])) over w as dgrp,
           max(o.ver) filter (where o.src <> all (array[2]::int[])) over w as run_max
    from objs o window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  left join base b on b.entity = o.entity
),
pin_targets as (
  select s.*, case when s.dflt is not null and ((s.base_row)."version" = s.dflt or f.seq is not null) then s.dflt
                   else s.maxv end as target
  from pin_steps s
  left join pin_firsts f on f.entity = s.entity and f.ver = s.dflt and (f.created_at, f.seq) <= (s.created_at, s.seq)
),
pinned_objs as (
  -- Another version's object changes only the highest version seen.
  select s.entity, s.seq, s.created_at, s.event_id, s.type, s.source, s.lf_seq, s.lf_at,
         (s.full and s.kept) or rb.obj is not null as full,
         case when s.kept then coalesce(rb.obj, s.obj) else '{}'::jsonb end
           || jsonb_build_object('default_version', s.dflt, 'latest_version', s.maxv) as obj
  from (
    select s.*, s.ver is null or s.src = any (array[2]::int[]) or s.ver = s.target as kept from pin_targets s
  ) s
  left join lateral (
    select "orb"."jsonb_merge_agg"(x.obj order by x.created_at, x.seq) || s.obj as obj
    from (
      select h.created_at, h.seq from objs h
      where h.entity = s.entity and h.full and h.ver = s.target and (h.created_at, h.seq) < (s.created_at, s.seq)
      order by h.created_at desc, h.seq desc limit 1
    ) h
    join objs x on x.entity = s.entity and (x.created_at, x.seq) >= (h.created_at, h.seq)
      and (x.created_at, x.seq) < (s.created_at, s.seq) and (x.seq = h.seq or not x.full)
    where s.src = any (array[2]::int[])
  ) rb on true
),
folds as (
  -- Every window from here on is w, one order: the rows are sorted once,
  -- while they carry only their objects, and never again.
  select o.entity, o.seq, o.created_at, o.event_id, o.type, o.source, o.lf_seq, o.lf_at, b.entity is not null as has_base, b.row as base, b.tid as base_tid,
         -- A full object starts the fold anew (the base is left out from
         -- the first one on).
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."plans_history" else b.row end,
           case when coalesce(o.full, false) and o.seq = o.lf_seq then coalesce(o.obj, '{}'::jsonb)
             else coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) filter (where not (coalesce(o.full, false) and o.seq = o.lf_seq)) over w, '{}'::jsonb) end) as r0
  from (
    select o.*, coalesce(o.full and lag(o.full) over w and (pg_catalog.record_image_eq(row(o.obj), row(lag(o.obj) over w)) or o.obj = lag(o.obj) over w), false) as repeated
    from pinned_objs o window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
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
         case when s.prev_seq is null then not s.has_base or ((s.r)."base_plan_id" is distinct from (s.base)."base_plan_id" or (s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."currency" is distinct from (s.base)."currency" or (s.r)."default_invoice_memo" is distinct from (s.base)."default_invoice_memo" or (s.r)."description" is distinct from (s.base)."description" or (s.r)."external_plan_id" is distinct from (s.base)."external_plan_id" or (s.r)."invoicing_currency" is distinct from (s.base)."invoicing_currency" or (s.r)."maximum_amount" is distinct from (s.base)."maximum_amount" or (s.r)."minimum_amount" is distinct from (s.base)."minimum_amount" or (s.r)."name" is distinct from (s.base)."name" or (s.r)."net_terms" is distinct from (s.base)."net_terms" or (s.r)."status" is distinct from (s.base)."status" or (s.r)."version" is distinct from (s.base)."version" or (s.r)."default_version" is distinct from (s.base)."default_version" or (s.r)."latest_version" is distinct from (s.base)."latest_version" or (not pg_catalog.record_image_eq(row((s.r)."adjustments"), row((s.base)."adjustments")) and (s.r)."adjustments" is distinct from (s.base)."adjustments") or (not pg_catalog.record_image_eq(row((s.r)."base_plan"), row((s.base)."base_plan")) and (s.r)."base_plan" is distinct from (s.base)."base_plan") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.base)."discount")) and (s.r)."discount" is distinct from (s.base)."discount") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.base)."maximum")) and (s.r)."maximum" is distinct from (s.base)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.base)."metadata")) and (s.r)."metadata" is distinct from (s.base)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.base)."minimum")) and (s.r)."minimum" is distinct from (s.base)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."plan_phases"), row((s.base)."plan_phases")) and (s.r)."plan_phases" is distinct from (s.base)."plan_phases") or (not pg_catalog.record_image_eq(row((s.r)."prices"), row((s.base)."prices")) and (s.r)."prices" is distinct from (s.base)."prices") or (not pg_catalog.record_image_eq(row((s.r)."product"), row((s.base)."product")) and (s.r)."product" is distinct from (s.base)."product") or (not pg_catalog.record_image_eq(row((s.r)."trial_config"), row((s.base)."trial_config")) and (s.r)."trial_config" is distinct from (s.base)."trial_config")) else ((s.r)."base_plan_id" is distinct from (s.prev)."base_plan_id" or (s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."currency" is distinct from (s.prev)."currency" or (s.r)."default_invoice_memo" is distinct from (s.prev)."default_invoice_memo" or (s.r)."description" is distinct from (s.prev)."description" or (s.r)."external_plan_id" is distinct from (s.prev)."external_plan_id" or (s.r)."invoicing_currency" is distinct from (s.prev)."invoicing_currency" or (s.r)."maximum_amount" is distinct from (s.prev)."maximum_amount" or (s.r)."minimum_amount" is distinct from (s.prev)."minimum_amount" or (s.r)."name" is distinct from (s.prev)."name" or (s.r)."net_terms" is distinct from (s.prev)."net_terms" or (s.r)."status" is distinct from (s.prev)."status" or (s.r)."version" is distinct from (s.prev)."version" or (s.r)."default_version" is distinct from (s.prev)."default_version" or (s.r)."latest_version" is distinct from (s.prev)."latest_version" or (not pg_catalog.record_image_eq(row((s.r)."adjustments"), row((s.prev)."adjustments")) and (s.r)."adjustments" is distinct from (s.prev)."adjustments") or (not pg_catalog.record_image_eq(row((s.r)."base_plan"), row((s.prev)."base_plan")) and (s.r)."base_plan" is distinct from (s.prev)."base_plan") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.prev)."discount")) and (s.r)."discount" is distinct from (s.prev)."discount") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.prev)."maximum")) and (s.r)."maximum" is distinct from (s.prev)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.prev)."metadata")) and (s.r)."metadata" is distinct from (s.prev)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.prev)."minimum")) and (s.r)."minimum" is distinct from (s.prev)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."plan_phases"), row((s.prev)."plan_phases")) and (s.r)."plan_phases" is distinct from (s.prev)."plan_phases") or (not pg_catalog.record_image_eq(row((s.r)."prices"), row((s.prev)."prices")) and (s.r)."prices" is distinct from (s.prev)."prices") or (not pg_catalog.record_image_eq(row((s.r)."product"), row((s.prev)."product")) and (s.r)."product" is distinct from (s.prev)."product") or (not pg_catalog.record_image_eq(row((s.r)."trial_config"), row((s.prev)."trial_config")) and (s.r)."trial_config" is distinct from (s.prev)."trial_config")) end as changed
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
                  case when pg_catalog.record_image_eq(row((m.r)."adjustments"), row((m.base)."adjustments")) then (m.base)."adjustments" else (m.r)."adjustments" end,
                  case when pg_catalog.record_image_eq(row((m.r)."base_plan"), row((m.base)."base_plan")) then (m.base)."base_plan" else (m.r)."base_plan" end,
                  (m.r)."base_plan_id",
                  (m.r)."created_at",
                  (m.r)."currency",
                  (m.r)."default_invoice_memo",
                  (m.r)."description",
                  case when pg_catalog.record_image_eq(row((m.r)."discount"), row((m.base)."discount")) then (m.base)."discount" else (m.r)."discount" end,
                  (m.r)."external_plan_id",
                  (m.r)."invoicing_currency",
                  case when pg_catalog.record_image_eq(row((m.r)."maximum"), row((m.base)."maximum")) then (m.base)."maximum" else (m.r)."maximum" end,
                  (m.r)."maximum_amount",
                  case when pg_catalog.record_image_eq(row((m.r)."metadata"), row((m.base)."metadata")) then (m.base)."metadata" else (m.r)."metadata" end,
                  case when pg_catalog.record_image_eq(row((m.r)."minimum"), row((m.base)."minimum")) then (m.base)."minimum" else (m.r)."minimum" end,
                  (m.r)."minimum_amount",
                  (m.r)."name",
                  (m.r)."net_terms",
                  case when pg_catalog.record_image_eq(row((m.r)."plan_phases"), row((m.base)."plan_phases")) then (m.base)."plan_phases" else (m.r)."plan_phases" end,
                  case when pg_catalog.record_image_eq(row((m.r)."prices"), row((m.base)."prices")) then (m.base)."prices" else (m.r)."prices" end,
                  case when pg_catalog.record_image_eq(row((m.r)."product"), row((m.base)."product")) then (m.base)."product" else (m.r)."product" end,
                  (m.r)."status",
                  case when pg_catalog.record_image_eq(row((m.r)."trial_config"), row((m.base)."trial_config")) then (m.base)."trial_config" else (m.r)."trial_config" end,
                  (m.r)."version",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at",
                  (m.r)."default_version",
                  (m.r)."latest_version"
                )::"orb"."plans_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."plans_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."plans_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
  insert into "orb"."plans_history" ("id", "adjustments", "base_plan", "base_plan_id", "created_at", "currency", "default_invoice_memo", "description", "discount", "external_plan_id", "invoicing_currency", "maximum", "maximum_amount", "metadata", "minimum", "minimum_amount", "name", "net_terms", "plan_phases", "prices", "product", "status", "trial_config", "version", "default_version", "latest_version", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."adjustments", (v.r)."base_plan", (v.r)."base_plan_id", (v.r)."created_at", (v.r)."currency", (v.r)."default_invoice_memo", (v.r)."description", (v.r)."discount", (v.r)."external_plan_id", (v.r)."invoicing_currency", (v.r)."maximum", (v.r)."maximum_amount", (v.r)."metadata", (v.r)."minimum", (v.r)."minimum_amount", (v.r)."name", (v.r)."net_terms", (v.r)."plan_phases", (v.r)."prices", (v.r)."product", (v.r)."status", (v.r)."trial_config", (v.r)."version", (v.r)."default_version", (v.r)."latest_version", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'snapshot.plan', 'plan.default_version_set', 'plan.version_created']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'plans_history' and d.seq = e.seq and d.resolved_at is null)
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
-- (none)
