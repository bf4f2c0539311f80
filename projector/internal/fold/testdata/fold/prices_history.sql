-- Projection prices_history (version 5) into orb.prices_history: generated from the catalog
-- (projector/internal/fold). Do not edit; regenerate with
-- go test ./projector/internal/fold -run Golden -update

-- name: apply: fold ($1, $2] into the table; recompute late and forced ($3) entities
with ranked as materialized (
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, false as full, 0 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['price.edited']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o) = 'object' then e.resource_id end as entity, true as full, 1 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'price' as o offset 0) o
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.price']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 2 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.plan.prices[*]') o(o)
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 3 as src
    from "orb"."events" e cross join lateral (select coalesce(e.refs, e.payload) -> 'subscription' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.price_intervals[*].price') o(o)
    where e.seq > $1 and e.seq <= $2 and not jsonb_path_exists(fp.o, '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', o.o -> 'id')) and e.type = any (array['subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription']::text[])
    union all
    select e.seq, e.created_at, e.event_id, case when jsonb_typeof(o.o -> 'id') = 'string' then nullif(o.o ->> 'id', '') end as entity, true as full, 4 as src
    from "orb"."events" e cross join lateral (select e.payload -> 'plan' as o offset 0) fp cross join lateral jsonb_path_query(fp.o, '$.prices[*]') o(o)
    where e.seq > $1 and e.seq <= $2 and e.type = any (array['snapshot.plan']::text[])
),
live as materialized (
  select b.* from ranked b
  where b.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'prices_history' and d.seq = b.seq and d.resolved_at is null)
),
unapplied as (
  insert into "orb"."dead_letters" (projection, seq, event_id, event_type, error)
  select 'prices_history', b.seq, b.event_id, e.type, case when x.t is null then 'the event carries no ' || x.name
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
  select c.entity, h.folded_at, h.folded_seq, h.row, h.tid
  from (select distinct b.entity from live b) c
  -- One index lookup per entity: the newest version by the primary key
  -- is the current one. A join could be planned as a scan of the whole
  -- history, and a filter on valid_to as a scan of every current version.
  cross join lateral (
    select v.folded_at, v.folded_seq, v as row, v.ctid as tid from "orb"."prices_history" v
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
  where r.entity is not null and not exists (select from "orb"."dead_letters" d where d.projection = 'prices_history' and d.seq = r.seq and d.resolved_at is null)
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
fan_keys as (
  -- Each candidate of a source whose items refs fingerprint (an embedded
  -- plan's prices), keyed from refs, so that the repeated ones (nearly
  -- all: the plan comes in every subscription event) are found without
  -- reading the payload: its source, what its shaped object reads
  -- besides the item (RepeatKey: the plan id) and the fingerprint of the
  -- item, the first with its id in path order (as fanObject finds it in
  -- the payload: strict, an id equal to the entity, not an array holding
  -- it; silent, refs copied from the payload may not fit). A key is a
  -- JSON array's text: it never equals an object's fingerprint (read's
  -- other rows). NULL where refs cannot tell: rows without refs or
  -- without fingerprints (appended before migration 022), which are read
  -- from the payload.
  select u.entity, c.seq, c.created_at, u.lf_seq, u.lf_at, v.event_id, v.type, v.source, u.is_full as full, c.src,
         case when x.i ? 'fp' and v.k is not null then jsonb_build_array(c.src, v.k, x.i -> 'fp')::text end as fp
  from (
    select c.seq, c.src, min(c.created_at) as created_at, array_agg(c.entity) as ids, array_agg(c.full) as fulls,
           array_agg(c.lf_seq) as lf_seqs, array_agg(c.lf_at) as lf_ats
    from cand_lf c where c.src = any (array[2, 3]) group by c.seq, c.src
  ) c
  -- One index lookup per event, reading its refs (about 1 KB, stored
  -- inline), never its payload; the key's part the event decides (k),
  -- once per event.
  cross join lateral (
    select v.event_id, v.type, v.source, v.r, case c.src when 2 then (case when jsonb_typeof(v.r -> 'plan') = 'object' and coalesce(jsonb_typeof(v.r #> '{plan,id}') not in ('object', 'array'), true) then coalesce(v.r #> '{plan,id}', 'null') end) when 3 then ('null') end::jsonb as k
    from (
      select v.event_id, v.type, v.source, v.refs -> 'subscription' as r
      from "orb"."events" v where v.seq = c.seq offset 0
    ) v
    offset 0
  ) v
  cross join lateral unnest(c.ids, c.fulls, c.lf_seqs, c.lf_ats) u(entity, is_full, lf_seq, lf_at)
  cross join lateral (
    select jsonb_path_query_first(v.r, case c.src when 2 then 'strict $.plan.prices[*] ? (@.id == $id)'::jsonpath when 3 then 'strict $.price_intervals[*].price ? (@.id == $id)'::jsonpath end, jsonb_build_object('id', u.entity), true) as i
    offset 0
  ) x
),
fan_unkeyed as (
  select c.seq, c.src, c.created_at, c.entity, c.full, c.lf_seq, c.lf_at from cand_lf c where c.src = any (array[4])
  union all
  select k.seq, k.src, k.created_at, k.entity, k.full, k.lf_seq, k.lf_at from fan_keys k where k.fp is null
),
read as (
  select w.entity, w.seq, w.created_at, w.lf_seq, w.lf_at, y.event_id, y.type, y.source, y.full, y.obj, w.src as src, md5((y.obj)::text) as fp
  -- Sorted before the objects are read, in the order of every window
  -- after: objects (a plan in every subscription event) are never sorted.
  from (select c.* from cand_lf c where c.src <> all (array[2, 3, 4]) order by c.entity, c.created_at, c.seq) w
  -- One index lookup per event, decompressing its payload once (||
  -- returns it detoasted): the object and the sources' Extra read it.
  cross join lateral (
    select e.event_id, e.type, e.source, f.full, case when (jsonb_typeof(sh.s -> 'plan_phase_order') = 'number' and (sh.s ->> 'plan_phase_order') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['plan_phase_order', 'folded_seq']::text[]) else sh.s end as obj
    from (
      select v.seq, v.event_id, v.type, v.source, v.created_at, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = w.seq offset 0
    ) e
    cross join lateral (select case w.src when 0 then (e.payload -> 'price') when 1 then (e.payload -> 'price') when 2 then (jsonb_path_query_first(e.payload -> 'subscription', '$.plan.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) when 3 then (jsonb_path_query_first(e.payload -> 'subscription', '$.price_intervals[*].price ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) when 4 then (jsonb_path_query_first(e.payload -> 'plan', '$.prices[*] ? (@.id == $id && @.id.type() == "string")', jsonb_build_object('id', w.entity))) end as o offset 0) x
    cross join lateral (select coalesce(w.full, false) as full) f
    cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o - array['plan_id']::text[]) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 1 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 2 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{subscription,plan,id}'), '{}'::jsonb)
      when w.src = 3 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 4 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{plan,id}'), '{}'::jsonb) end as s offset 0) sh
    where e.seq = w.seq
    offset 0
  ) y
  union all
  -- Items keyed from refs (fan_keys): not read here.
  select k.entity, k.seq, k.created_at, k.lf_seq, k.lf_at, k.event_id, k.type, k.source, k.full, null::jsonb as obj, k.src, k.fp
  from fan_keys k where k.fp is not null
  union all
  -- Items fanned out of an event (the prices of a subscription's plan):
  -- the event is read once for all its items (x, the first of each id in
  -- path order, as fanObject finds it), not once per item; each of the
  -- event's candidates (u) takes its item by id.
  select u.entity, e.seq, e.created_at, u.lf_seq, u.lf_at, e.event_id, e.type, e.source, u.is_full, null::jsonb as obj, e.src, md5((ob.obj)::text) as fp
  from (
    select c.*, v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload
    from (
      select c.seq, c.src, min(c.created_at) as created_at, array_agg(c.entity) as ids, array_agg(c.full) as fulls,
             array_agg(c.lf_seq) as lf_seqs, array_agg(c.lf_at) as lf_ats
      from fan_unkeyed c where c.src = any (array[2, 3, 4]) group by c.seq, c.src
    ) c
    -- The payload decompressed once (|| returns it detoasted), for the
    -- items and the sources' Extra, which read it again per item.
    cross join lateral (
      select v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = c.seq offset 0
    ) v
    offset 0 -- Read whole, once: never once per candidate.
  ) e
  cross join lateral (select e.src) w
  cross join lateral (
    select distinct on (i.o -> 'id') i.o
    from jsonb_path_query(case w.src when 2 then (e.payload -> 'subscription') when 3 then (e.payload -> 'subscription') when 4 then (e.payload -> 'plan') end, case w.src when 2 then '$.plan.prices[*]'::jsonpath when 3 then '$.price_intervals[*].price'::jsonpath when 4 then '$.prices[*]'::jsonpath end) with ordinality i(o, n)
    order by i.o -> 'id', i.n
  ) x
  join lateral unnest(e.ids, e.fulls, e.lf_seqs, e.lf_ats) u(entity, is_full, lf_seq, lf_at) on x.o -> 'id' = to_jsonb(u.entity)
  cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o - array['plan_id']::text[]) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 1 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 2 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{subscription,plan,id}'), '{}'::jsonb)
      when w.src = 3 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 4 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{plan,id}'), '{}'::jsonb) end as s offset 0) sh
  cross join lateral (select case when (jsonb_typeof(sh.s -> 'plan_phase_order') = 'number' and (sh.s ->> 'plan_phase_order') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['plan_phase_order', 'folded_seq']::text[]) else sh.s end as obj offset 0) ob
),
kept as (
  -- A full object equal to the full object just before it cannot change
  -- the state (the prices of a plan embedded unchanged in every
  -- subscription event): it is left out before anything else, and only
  -- counts as folded (lf_seq, lf_at: the entity's newest event). Compared
  -- by fingerprint: the fanned items are not read whole yet.
  select o.* from (
    select o.*, coalesce(o.full and lag(o.full) over w and o.fp = lag(o.fp) over w, false) as repeated
    from read o
    window w as (partition by o.entity order by o.created_at, o.seq)
  ) o
  where not o.repeated
),
objs as (
  select o.* from kept o where o.src <> all (array[2, 3, 4])
  union all
  -- Items fanned out of an event (the prices of a subscription's plan):
  -- the event is read once for all its items (x, the first of each id in
  -- path order, as fanObject finds it), not once per item; each of the
  -- event's candidates (u) takes its item by id.
  select u.entity, e.seq, e.created_at, u.lf_seq, u.lf_at, e.event_id, e.type, e.source, u.is_full, case when (jsonb_typeof(sh.s -> 'plan_phase_order') = 'number' and (sh.s ->> 'plan_phase_order') ~ '[.eE]') or (jsonb_typeof(sh.s -> 'folded_seq') = 'number' and (sh.s ->> 'folded_seq') ~ '[.eE]') then "orb"."jsonb_integral"(sh.s, array['plan_phase_order', 'folded_seq']::text[]) else sh.s end as obj, e.src, null::text as fp, false as repeated
  from (
    select c.*, v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload
    from (
      select c.seq, c.src, min(c.created_at) as created_at, array_agg(c.entity) as ids, array_agg(c.full) as fulls,
             array_agg(c.lf_seq) as lf_seqs, array_agg(c.lf_at) as lf_ats
      from kept c where c.src = any (array[2, 3, 4]) group by c.seq, c.src
    ) c
    -- The payload decompressed once (|| returns it detoasted), for the
    -- items and the sources' Extra, which read it again per item.
    cross join lateral (
      select v.event_id, v.type, v.source, v.resource_type, v.resource_id, v.payload || '{}'::jsonb as payload
      from "orb"."events" v where v.seq = c.seq offset 0
    ) v
    offset 0 -- Read whole, once: never once per candidate.
  ) e
  cross join lateral (select e.src) w
  cross join lateral (
    select distinct on (i.o -> 'id') i.o
    from jsonb_path_query(case w.src when 2 then (e.payload -> 'subscription') when 3 then (e.payload -> 'subscription') when 4 then (e.payload -> 'plan') end, case w.src when 2 then '$.plan.prices[*]'::jsonpath when 3 then '$.price_intervals[*].price'::jsonpath when 4 then '$.prices[*]'::jsonpath end) with ordinality i(o, n)
    order by i.o -> 'id', i.n
  ) x
  join lateral unnest(e.ids, e.fulls, e.lf_seqs, e.lf_ats) u(entity, is_full, lf_seq, lf_at) on x.o -> 'id' = to_jsonb(u.entity)
  cross join lateral (select case when jsonb_typeof(x.o) is distinct from 'object' then '{}'::jsonb
      when w.src = 0 then (x.o - array['plan_id']::text[]) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 1 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 2 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{subscription,plan,id}'), '{}'::jsonb)
      when w.src = 3 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')), '{}'::jsonb)
      when w.src = 4 then (x.o) || coalesce(jsonb_build_object('model_config', x.o -> ((x.o ->> 'model_type') || '_config')) || jsonb_build_object('plan_id', e.payload #> '{plan,id}'), '{}'::jsonb) end as s offset 0) sh
),
folds as (
  -- Every window from here on is w, one order: the rows are sorted once,
  -- while they carry only their objects, and never again.
  select o.entity, o.seq, o.created_at, o.event_id, o.type, o.source, o.lf_seq, o.lf_at, b.entity is not null as has_base, b.row as base, b.tid as base_tid,
         -- A full object starts the fold anew (the base is left out from
         -- the first one on).
         jsonb_populate_record(case when count(*) filter (where o.full) over w > 0 then null::"orb"."prices_history" else b.row end,
           coalesce("orb"."jsonb_fold_agg"(o.obj, o.full) over w, '{}'::jsonb)) as r0
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
         case when s.prev_seq is null then not s.has_base or ((s.r)."billing_mode" is distinct from (s.base)."billing_mode" or (s.r)."cadence" is distinct from (s.base)."cadence" or (s.r)."conversion_rate" is distinct from (s.base)."conversion_rate" or (s.r)."created_at" is distinct from (s.base)."created_at" or (s.r)."currency" is distinct from (s.base)."currency" or (s.r)."external_price_id" is distinct from (s.base)."external_price_id" or (s.r)."fixed_price_quantity" is distinct from (s.base)."fixed_price_quantity" or (s.r)."invoice_grouping_key" is distinct from (s.base)."invoice_grouping_key" or (s.r)."maximum_amount" is distinct from (s.base)."maximum_amount" or (s.r)."minimum_amount" is distinct from (s.base)."minimum_amount" or (s.r)."model_type" is distinct from (s.base)."model_type" or (s.r)."name" is distinct from (s.base)."name" or (s.r)."plan_id" is distinct from (s.base)."plan_id" or (s.r)."plan_phase_order" is distinct from (s.base)."plan_phase_order" or (s.r)."price_type" is distinct from (s.base)."price_type" or (s.r)."replaces_price_id" is distinct from (s.base)."replaces_price_id" or (not pg_catalog.record_image_eq(row((s.r)."billable_metric"), row((s.base)."billable_metric")) and (s.r)."billable_metric" is distinct from (s.base)."billable_metric") or (not pg_catalog.record_image_eq(row((s.r)."billing_cycle_configuration"), row((s.base)."billing_cycle_configuration")) and (s.r)."billing_cycle_configuration" is distinct from (s.base)."billing_cycle_configuration") or (not pg_catalog.record_image_eq(row((s.r)."conversion_rate_config"), row((s.base)."conversion_rate_config")) and (s.r)."conversion_rate_config" is distinct from (s.base)."conversion_rate_config") or (not pg_catalog.record_image_eq(row((s.r)."credit_allocation"), row((s.base)."credit_allocation")) and (s.r)."credit_allocation" is distinct from (s.base)."credit_allocation") or (not pg_catalog.record_image_eq(row((s.r)."dimensional_price_configuration"), row((s.base)."dimensional_price_configuration")) and (s.r)."dimensional_price_configuration" is distinct from (s.base)."dimensional_price_configuration") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.base)."discount")) and (s.r)."discount" is distinct from (s.base)."discount") or (not pg_catalog.record_image_eq(row((s.r)."invoicing_cycle_configuration"), row((s.base)."invoicing_cycle_configuration")) and (s.r)."invoicing_cycle_configuration" is distinct from (s.base)."invoicing_cycle_configuration") or (not pg_catalog.record_image_eq(row((s.r)."item"), row((s.base)."item")) and (s.r)."item" is distinct from (s.base)."item") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.base)."maximum")) and (s.r)."maximum" is distinct from (s.base)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.base)."metadata")) and (s.r)."metadata" is distinct from (s.base)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.base)."minimum")) and (s.r)."minimum" is distinct from (s.base)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."model_config"), row((s.base)."model_config")) and (s.r)."model_config" is distinct from (s.base)."model_config")) else ((s.r)."billing_mode" is distinct from (s.prev)."billing_mode" or (s.r)."cadence" is distinct from (s.prev)."cadence" or (s.r)."conversion_rate" is distinct from (s.prev)."conversion_rate" or (s.r)."created_at" is distinct from (s.prev)."created_at" or (s.r)."currency" is distinct from (s.prev)."currency" or (s.r)."external_price_id" is distinct from (s.prev)."external_price_id" or (s.r)."fixed_price_quantity" is distinct from (s.prev)."fixed_price_quantity" or (s.r)."invoice_grouping_key" is distinct from (s.prev)."invoice_grouping_key" or (s.r)."maximum_amount" is distinct from (s.prev)."maximum_amount" or (s.r)."minimum_amount" is distinct from (s.prev)."minimum_amount" or (s.r)."model_type" is distinct from (s.prev)."model_type" or (s.r)."name" is distinct from (s.prev)."name" or (s.r)."plan_id" is distinct from (s.prev)."plan_id" or (s.r)."plan_phase_order" is distinct from (s.prev)."plan_phase_order" or (s.r)."price_type" is distinct from (s.prev)."price_type" or (s.r)."replaces_price_id" is distinct from (s.prev)."replaces_price_id" or (not pg_catalog.record_image_eq(row((s.r)."billable_metric"), row((s.prev)."billable_metric")) and (s.r)."billable_metric" is distinct from (s.prev)."billable_metric") or (not pg_catalog.record_image_eq(row((s.r)."billing_cycle_configuration"), row((s.prev)."billing_cycle_configuration")) and (s.r)."billing_cycle_configuration" is distinct from (s.prev)."billing_cycle_configuration") or (not pg_catalog.record_image_eq(row((s.r)."conversion_rate_config"), row((s.prev)."conversion_rate_config")) and (s.r)."conversion_rate_config" is distinct from (s.prev)."conversion_rate_config") or (not pg_catalog.record_image_eq(row((s.r)."credit_allocation"), row((s.prev)."credit_allocation")) and (s.r)."credit_allocation" is distinct from (s.prev)."credit_allocation") or (not pg_catalog.record_image_eq(row((s.r)."dimensional_price_configuration"), row((s.prev)."dimensional_price_configuration")) and (s.r)."dimensional_price_configuration" is distinct from (s.prev)."dimensional_price_configuration") or (not pg_catalog.record_image_eq(row((s.r)."discount"), row((s.prev)."discount")) and (s.r)."discount" is distinct from (s.prev)."discount") or (not pg_catalog.record_image_eq(row((s.r)."invoicing_cycle_configuration"), row((s.prev)."invoicing_cycle_configuration")) and (s.r)."invoicing_cycle_configuration" is distinct from (s.prev)."invoicing_cycle_configuration") or (not pg_catalog.record_image_eq(row((s.r)."item"), row((s.prev)."item")) and (s.r)."item" is distinct from (s.prev)."item") or (not pg_catalog.record_image_eq(row((s.r)."maximum"), row((s.prev)."maximum")) and (s.r)."maximum" is distinct from (s.prev)."maximum") or (not pg_catalog.record_image_eq(row((s.r)."metadata"), row((s.prev)."metadata")) and (s.r)."metadata" is distinct from (s.prev)."metadata") or (not pg_catalog.record_image_eq(row((s.r)."minimum"), row((s.prev)."minimum")) and (s.r)."minimum" is distinct from (s.prev)."minimum") or (not pg_catalog.record_image_eq(row((s.r)."model_config"), row((s.prev)."model_config")) and (s.r)."model_config" is distinct from (s.prev)."model_config")) end as changed
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
                  case when pg_catalog.record_image_eq(row((m.r)."billable_metric"), row((m.base)."billable_metric")) then (m.base)."billable_metric" else (m.r)."billable_metric" end,
                  case when pg_catalog.record_image_eq(row((m.r)."billing_cycle_configuration"), row((m.base)."billing_cycle_configuration")) then (m.base)."billing_cycle_configuration" else (m.r)."billing_cycle_configuration" end,
                  (m.r)."billing_mode",
                  (m.r)."cadence",
                  (m.r)."conversion_rate",
                  case when pg_catalog.record_image_eq(row((m.r)."conversion_rate_config"), row((m.base)."conversion_rate_config")) then (m.base)."conversion_rate_config" else (m.r)."conversion_rate_config" end,
                  (m.r)."created_at",
                  case when pg_catalog.record_image_eq(row((m.r)."credit_allocation"), row((m.base)."credit_allocation")) then (m.base)."credit_allocation" else (m.r)."credit_allocation" end,
                  (m.r)."currency",
                  case when pg_catalog.record_image_eq(row((m.r)."dimensional_price_configuration"), row((m.base)."dimensional_price_configuration")) then (m.base)."dimensional_price_configuration" else (m.r)."dimensional_price_configuration" end,
                  case when pg_catalog.record_image_eq(row((m.r)."discount"), row((m.base)."discount")) then (m.base)."discount" else (m.r)."discount" end,
                  (m.r)."external_price_id",
                  (m.r)."fixed_price_quantity",
                  (m.r)."invoice_grouping_key",
                  case when pg_catalog.record_image_eq(row((m.r)."invoicing_cycle_configuration"), row((m.base)."invoicing_cycle_configuration")) then (m.base)."invoicing_cycle_configuration" else (m.r)."invoicing_cycle_configuration" end,
                  case when pg_catalog.record_image_eq(row((m.r)."item"), row((m.base)."item")) then (m.base)."item" else (m.r)."item" end,
                  case when pg_catalog.record_image_eq(row((m.r)."maximum"), row((m.base)."maximum")) then (m.base)."maximum" else (m.r)."maximum" end,
                  (m.r)."maximum_amount",
                  case when pg_catalog.record_image_eq(row((m.r)."metadata"), row((m.base)."metadata")) then (m.base)."metadata" else (m.r)."metadata" end,
                  case when pg_catalog.record_image_eq(row((m.r)."minimum"), row((m.base)."minimum")) then (m.base)."minimum" else (m.r)."minimum" end,
                  (m.r)."minimum_amount",
                  case when pg_catalog.record_image_eq(row((m.r)."model_config"), row((m.base)."model_config")) then (m.base)."model_config" else (m.r)."model_config" end,
                  (m.r)."model_type",
                  (m.r)."name",
                  (m.r)."plan_id",
                  (m.r)."plan_phase_order",
                  (m.r)."price_type",
                  (m.r)."replaces_price_id",
                  (m.r)."item_id",
                  (m.r)."billable_metric_id",
                  (m.r)."last_event_id",
                  (m.r)."last_event_seq",
                  (m.r)."last_event_at",
                  (m.r)."valid_from",
                  (m.r)."valid_to",
                  (m.r)."event_type",
                  (m.r)."event_source",
                  (m.r)."folded_seq",
                  (m.r)."folded_at"
                )::"orb"."prices_history"
                else m.r end as r,
           min(m.created_at) filter (where m.changed) over (partition by m.entity) as first_new,
           lead(m.seq) over w is null as last
    from marked m window w as (partition by m.entity order by m.created_at, m.seq)
  ) v
  where v.changed or (v.first_new is null and v.last)
  window w as (partition by v.entity order by v.created_at, v.seq)
),
removed as (
  delete from "orb"."prices_history" h using late l where h."id" = any (l.ids)
  returning 1
),
closed as (
  update "orb"."prices_history" h set valid_to = coalesce(v.first_new, 'infinity'),
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
  insert into "orb"."prices_history" ("id", "billable_metric", "billing_cycle_configuration", "billing_mode", "cadence", "conversion_rate", "conversion_rate_config", "created_at", "credit_allocation", "currency", "dimensional_price_configuration", "discount", "external_price_id", "fixed_price_quantity", "invoice_grouping_key", "invoicing_cycle_configuration", "item", "maximum", "maximum_amount", "metadata", "minimum", "minimum_amount", "model_config", "model_type", "name", "plan_id", "plan_phase_order", "price_type", "replaces_price_id", "last_event_id", "last_event_seq", "last_event_at", "valid_from", "valid_to", "event_type", "event_source", "folded_seq", "folded_at")
  select v.entity, (v.r)."billable_metric", (v.r)."billing_cycle_configuration", (v.r)."billing_mode", (v.r)."cadence", (v.r)."conversion_rate", (v.r)."conversion_rate_config", (v.r)."created_at", (v.r)."credit_allocation", (v.r)."currency", (v.r)."dimensional_price_configuration", (v.r)."discount", (v.r)."external_price_id", (v.r)."fixed_price_quantity", (v.r)."invoice_grouping_key", (v.r)."invoicing_cycle_configuration", (v.r)."item", (v.r)."maximum", (v.r)."maximum_amount", (v.r)."metadata", (v.r)."minimum", (v.r)."minimum_amount", (v.r)."model_config", (v.r)."model_type", (v.r)."name", (v.r)."plan_id", (v.r)."plan_phase_order", (v.r)."price_type", (v.r)."replaces_price_id", v.event_id, v.seq, v.created_at, v.created_at, coalesce(v.next_from, 'infinity'), v.type, v.source, case when v.newest then v.lf_seq end, case when v.newest then v.lf_at end
  from versions v
  where v.changed and (select count(*) from removed) >= 0 -- Deletes first: a recomputed version may keep its key.
  returning 1
)
select (select count(*) from live), (select count(*) from written), (select cardinality(ids) from late),
       (select count(*) from unapplied);

-- name: candidates: positions in ($1, $2] this projection reads (poison-event bisection)
select e.seq from "orb"."events" e
where e.seq > $1 and e.seq <= $2 and e.type = any (array['price.edited', 'snapshot.price', 'subscription.accounting_sync_failed', 'subscription.accounting_sync_succeeded', 'subscription.cancellation_scheduled', 'subscription.cancellation_unscheduled', 'subscription.cost_exceeded', 'subscription.created', 'subscription.edited', 'subscription.ended', 'subscription.fixed_fee_quantity_updated', 'subscription.plan_change_scheduled', 'subscription.plan_changed', 'subscription.plan_version_change_scheduled', 'subscription.plan_version_changed', 'subscription.spend_exceeded', 'subscription.started', 'subscription.trial_ended', 'subscription.usage_exceeded', 'snapshot.subscription', 'snapshot.plan']::text[]) and not exists (select from "orb"."dead_letters" d where d.projection = 'prices_history' and d.seq = e.seq and d.resolved_at is null)
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
-- (none)
