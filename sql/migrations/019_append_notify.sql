-- Fixed costs of each append transaction (issue 10). The append rings the
-- doorbell itself: one statement less per commit, and no DO block to
-- compile each time. And its statements may be cached generic plans: the
-- transaction used to set plan_cache_mode = force_custom_plan for the sake
-- of the duplicate check alone, which replanned every statement of every
-- append; now only that check is planned per call.
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
