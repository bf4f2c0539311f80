-- The append as one function, so that the bodies are parsed into jsonb
-- before the log head is locked (issue 10). The parse was about three
-- quarters of the insert statement's time, and every append waits while
-- another holds the head: done first, it overlaps another writer's insert
-- and commit instead of lengthening them. What stays under the lock is the
-- duplicate check, the numbering, the rows and their indexes, and the
-- commit.
--
-- Arguments are parallel arrays, one element per event, in log order; the
-- caller keeps only the first of events sharing an id. Returns the id and
-- position of each event stored; an id already in the log is left out (a
-- duplicate). The head is locked until the caller's transaction ends, which
-- must be READ COMMITTED: each statement below takes a fresh snapshot, so
-- the duplicate check, run once the lock is held, sees every earlier
-- append.
create function {{.schema}}.append_events(
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

---- create above / drop below ----

drop function {{.schema}}.append_events(text[], text[], timestamptz[], text[],
    text[], text[], bytea[], text[], text[], bytea[]);
