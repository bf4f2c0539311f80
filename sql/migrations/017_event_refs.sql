-- events.refs: the skeleton of a subscription event's payload, written when
-- the event is appended, so that the tables fed by objects embedded in
-- subscriptions (customers, plans, plan_versions, prices) rank the events
-- of a batch by entity without reading each ~54 KB payload (issue 9's
-- extra sources). Package fold reads refs in place of the payload while
-- ranking, for the sources marked Refs; it must keep every key they read:
-- subscription.customer {id, email}, subscription.plan {id, version,
-- prices [{id}]}, subscription.price_intervals [{price {id}}]. Anything
-- else of the shape (a null plan, a customer that is not an object) is
-- kept as it is, so a path over refs selects what it selects over the
-- payload (item lists keep the items that are objects: the others name no
-- price).
--
-- Rows appended before this migration have no refs (the log refuses
-- updates): ranking reads their payload, as before. The append builds
-- refs with the payloads, before it locks the log head; a trigger fills
-- them for any other way into the log (imports, tests' direct inserts).
alter table {{.schema}}.events add column refs jsonb;

-- Built with JSON path and #> on the payload, never copying the plan or
-- the price intervals: about 0.2 ms for a 54 KB subscription payload.
create function {{.schema}}.event_refs(payload jsonb) returns jsonb
language sql immutable parallel safe as $$
select case when jsonb_path_query_first(payload, 'strict $.subscription.type()', '{}', true) = '"object"' then
    jsonb_build_object('subscription', jsonb_strip_nulls(jsonb_build_object(
        'customer', case jsonb_path_query_first(payload, 'strict $.subscription.customer.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,customer,id}',
                'email', case when payload #> '{subscription,customer}' ? 'email' then true end)
            else payload #> '{subscription,customer}' end,
        'plan', case jsonb_path_query_first(payload, 'strict $.subscription.plan.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,plan,id}',
                'version', payload #> '{subscription,plan,version}',
                'prices', case when jsonb_path_exists(payload, 'strict $.subscription.plan.prices', '{}', true) then
                    coalesce((select jsonb_agg(jsonb_build_object('id', i)) from jsonb_array_elements(jsonb_path_query_array(payload,
                        'lax $.subscription.plan.prices[*] ? (@.type() == "object").id')) i), '[]') end)
            else payload #> '{subscription,plan}' end,
        'price_intervals', case when jsonb_path_exists(payload, 'strict $.subscription.price_intervals', '{}', true) then
            coalesce((select jsonb_agg(jsonb_build_object('price', jsonb_build_object('id', i))) from jsonb_array_elements(jsonb_path_query_array(payload,
                'lax $.subscription.price_intervals[*].price ? (@.type() == "object").id')) i), '[]') end)))
end
$$;

create function {{.schema}}.events_set_refs() returns trigger
language plpgsql as $$
begin
    new.refs := {{.schema}}.event_refs(new.payload);
    return new;
end
$$;

create trigger events_set_refs before insert on {{.schema}}.events
    for each row when (new.refs is null and (new.type like 'subscription.%' or new.type = 'snapshot.subscription'))
    execute function {{.schema}}.events_set_refs();

-- The append of 014, building refs before the lock.
create or replace function {{.schema}}.append_events(
    ids text[], types text[], created_ats timestamptz[], sources text[],
    resource_types text[], resource_ids text[], bodies_zstd bytea[],
    orb_timestamps text[], orb_signatures text[], bodies bytea[])
returns table (appended_id text, appended_seq bigint)
language plpgsql volatile as $$
declare
    payloads jsonb[];
    skeletons jsonb[];
    head     bigint;
    appended bigint;
begin
    -- Before the lock: the parse (and any data error it raises).
    payloads := array(
        select convert_from(b.body, 'UTF8')::jsonb
        from unnest(bodies) with ordinality as b(body, ord)
        order by b.ord);
    -- And the payloads' skeletons (events.refs), so the trigger need not
    -- build them under the lock.
    skeletons := array(
        select {{.schema}}.event_refs(p.payload)
        from unnest(payloads) with ordinality as p(payload, ord)
        order by p.ord);

    -- The row lock is held to commit: appends are serialized, which is
    -- what makes positions gapless and commit-ordered.
    select h.seq into head from {{.schema}}.log_head h for update;

    return query
    insert into {{.schema}}.events
        (seq, event_id, type, created_at, source, resource_type, resource_id,
         body_zstd, payload, orb_timestamp, orb_signature, refs)
    select head + row_number() over (order by i.ord),
           i.event_id, i.type, i.created_at, i.source,
           nullif(i.resource_type, ''), nullif(i.resource_id, ''),
           i.body_zstd, i.payload,
           nullif(i.orb_timestamp, ''), nullif(i.orb_signature, ''), i.refs
    from unnest(ids, types, created_ats, sources, resource_types,
                resource_ids, bodies_zstd, orb_timestamps, orb_signatures,
                payloads, skeletons)
             with ordinality
             as i(event_id, type, created_at, source, resource_type,
                  resource_id, body_zstd, orb_timestamp, orb_signature,
                  payload, refs, ord)
    -- Stored ids are looked up by index with = ANY. A NOT EXISTS here is
    -- planned as a hash anti-join that scans the whole log on every append.
    where i.event_id <> all (array(
        select e.event_id from {{.schema}}.events e
        where e.event_id = any (ids)))
    returning event_id, seq;

    get diagnostics appended = row_count;
    update {{.schema}}.log_head set seq = head + appended;
end
$$;

---- create above / drop below ----

create or replace function {{.schema}}.append_events(
    ids text[], types text[], created_ats timestamptz[], sources text[],
    resource_types text[], resource_ids text[], bodies_zstd bytea[],
    orb_timestamps text[], orb_signatures text[], bodies bytea[])
returns table (appended_id text, appended_seq bigint)
language plpgsql volatile as $$
declare
    payloads jsonb[];
    head     bigint;
    appended bigint;
begin
    -- Before the lock: the parse (and any data error it raises).
    payloads := array(
        select convert_from(b.body, 'UTF8')::jsonb
        from unnest(bodies) with ordinality as b(body, ord)
        order by b.ord);

    -- The row lock is held to commit: appends are serialized, which is
    -- what makes positions gapless and commit-ordered.
    select h.seq into head from {{.schema}}.log_head h for update;

    return query
    insert into {{.schema}}.events
        (seq, event_id, type, created_at, source, resource_type, resource_id,
         body_zstd, payload, orb_timestamp, orb_signature)
    select head + row_number() over (order by i.ord),
           i.event_id, i.type, i.created_at, i.source,
           nullif(i.resource_type, ''), nullif(i.resource_id, ''),
           i.body_zstd, i.payload,
           nullif(i.orb_timestamp, ''), nullif(i.orb_signature, '')
    from unnest(ids, types, created_ats, sources, resource_types,
                resource_ids, bodies_zstd, orb_timestamps, orb_signatures,
                payloads)
             with ordinality
             as i(event_id, type, created_at, source, resource_type,
                  resource_id, body_zstd, orb_timestamp, orb_signature,
                  payload, ord)
    -- Stored ids are looked up by index with = ANY. A NOT EXISTS here is
    -- planned as a hash anti-join that scans the whole log on every append.
    where i.event_id <> all (array(
        select e.event_id from {{.schema}}.events e
        where e.event_id = any (ids)))
    returning event_id, seq;

    get diagnostics appended = row_count;
    update {{.schema}}.log_head set seq = head + appended;
end
$$;

drop trigger events_set_refs on {{.schema}}.events;
drop function {{.schema}}.events_set_refs();
drop function {{.schema}}.event_refs(jsonb);
alter table {{.schema}}.events drop column refs;
