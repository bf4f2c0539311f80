-- The append's duplicate check without planning it on every call (issue
-- 10). Migration 019 ran it through EXECUTE so that no generic plan made
-- while the log was empty (a scan of the whole table) would be reused as
-- the log grew; but EXECUTE parses and plans it on every append, and as a
-- static statement it would be planned anew too: its generic plan's
-- estimate for = ANY ($1) (ten ids) is costlier than a custom plan for one
-- id, so PostgreSQL never settles on it. Planning was most of the check's
-- cost (~0.13 ms of ~0.14 per append here) and the append's largest fixed
-- cost after the commit itself.
--
-- stored_event_ids keeps one generic plan per session, made with
-- sequential scans disabled, so it is always the lookup of the event_id
-- index whatever the log's size or statistics were when it was made
-- (TestAppendPlansNeverScanTheLog). The settings apply to this one
-- statement only: in append_events they would turn the head's lock and
-- update (one-row table, no WHERE) into "disabled" scans costly enough to
-- be JIT-compiled. Volatile, like the append: it takes its own snapshot,
-- after the head's lock was granted, so it sees every earlier append.
create function {{.schema}}.stored_event_ids(ids text[])
returns text[]
language plpgsql volatile
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set jit = off
as $$
begin
    return array(select e.event_id from {{.schema}}.events e where e.event_id = any (ids));
end
$$;

create or replace function {{.schema}}.append_events(
    ids text[], types text[], created_ats timestamptz[], sources text[],
    resource_types text[], resource_ids text[], bodies_zstd bytea[],
    orb_timestamps text[], orb_signatures text[], bodies bytea[],
    refs bytea[])
returns table (appended_id text, appended_seq bigint)
language plpgsql volatile as $$
declare
    payloads jsonb[];
    stored   text[];
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

    -- The ids already stored: one cached plan, an index lookup
    -- (stored_event_ids, below).
    stored := {{.schema}}.stored_event_ids(ids);

    return query
    insert into {{.schema}}.events
        (seq, event_id, type, created_at, source, resource_type, resource_id,
         body_zstd, payload, orb_timestamp, orb_signature, refs)
    select head + row_number() over (order by i.ord),
           i.event_id, i.type, i.created_at, i.source,
           nullif(i.resource_type, ''), nullif(i.resource_id, ''),
           i.body_zstd, i.payload,
           nullif(i.orb_timestamp, ''), nullif(i.orb_signature, ''),
           convert_from(i.refs, 'UTF8')::jsonb
    from unnest(ids, types, created_ats, sources, resource_types,
                resource_ids, bodies_zstd, orb_timestamps, orb_signatures,
                payloads, refs)
             with ordinality
             as i(event_id, type, created_at, source, resource_type,
                  resource_id, body_zstd, orb_timestamp, orb_signature,
                  payload, refs, ord)
    where i.event_id <> all (stored)
    returning event_id, seq;

    get diagnostics appended = row_count;
    update {{.schema}}.log_head set seq = head + appended;
    -- The doorbell (eventlog.NotifyChannel), delivered at commit. Here
    -- it is one cached statement; as its own DO block, sent after the
    -- append, it was compiled anew for every commit.
    perform pg_notify('{{.schema_name}}_events', '');
end
$$;

---- create above / drop below ----

create or replace function {{.schema}}.append_events(
    ids text[], types text[], created_ats timestamptz[], sources text[],
    resource_types text[], resource_ids text[], bodies_zstd bytea[],
    orb_timestamps text[], orb_signatures text[], bodies bytea[],
    refs bytea[])
returns table (appended_id text, appended_seq bigint)
language plpgsql volatile as $$
declare
    payloads jsonb[];
    stored   text[];
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

    -- The ids already stored, looked up by index with = ANY (a NOT EXISTS
    -- is planned as a hash anti-join that scans the whole log). EXECUTE
    -- plans this one statement for each call, against the log as it is
    -- now: a generic plan, made while the log was empty and then cached,
    -- scans the whole table instead (TestAppendPlansNeverScanTheLog). The
    -- other statements keep the session's cached plans.
    execute format('select array(select e.event_id from %I.events e where e.event_id = any ($1))',
                   '{{.schema_name}}')
        into stored using ids;

    return query
    insert into {{.schema}}.events
        (seq, event_id, type, created_at, source, resource_type, resource_id,
         body_zstd, payload, orb_timestamp, orb_signature, refs)
    select head + row_number() over (order by i.ord),
           i.event_id, i.type, i.created_at, i.source,
           nullif(i.resource_type, ''), nullif(i.resource_id, ''),
           i.body_zstd, i.payload,
           nullif(i.orb_timestamp, ''), nullif(i.orb_signature, ''),
           convert_from(i.refs, 'UTF8')::jsonb
    from unnest(ids, types, created_ats, sources, resource_types,
                resource_ids, bodies_zstd, orb_timestamps, orb_signatures,
                payloads, refs)
             with ordinality
             as i(event_id, type, created_at, source, resource_type,
                  resource_id, body_zstd, orb_timestamp, orb_signature,
                  payload, refs, ord)
    where i.event_id <> all (stored)
    returning event_id, seq;

    get diagnostics appended = row_count;
    update {{.schema}}.log_head set seq = head + appended;
    -- The doorbell (eventlog.NotifyChannel), delivered at commit. Here
    -- it is one cached statement; as its own DO block, sent after the
    -- append, it was compiled anew for every commit.
    perform pg_notify('{{.schema_name}}_events', '');
end
$$;

drop function {{.schema}}.stored_event_ids(text[]);
