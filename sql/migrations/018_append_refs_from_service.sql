-- events.refs sent by the service (issue 10). Building each subscription
-- payload's skeleton with event_refs (migration 017) walked every ~54 KB
-- payload once more inside PostgreSQL, about a fifth of its CPU per
-- appended event; the service already holds the body and builds the same
-- skeleton from it (eventlog.EventRefs, tested against event_refs), so
-- this append only stores it. An event sent without refs (the service
-- could not vouch for its skeleton) gets them from the trigger, built by
-- event_refs from the payload, as does any other way into the log.
--
-- The trigger now fires on what event_refs looks at, a payload whose
-- subscription is an object, instead of on the event's type: the append
-- stored refs for every such payload, so refs are the same whatever wrote
-- the row.
--
-- The append of 017 (ten arguments) stays for a binary older than this
-- migration.
create function {{.schema}}.append_events(
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

drop trigger events_set_refs on {{.schema}}.events;
create trigger events_set_refs before insert on {{.schema}}.events
    for each row when (new.refs is null and jsonb_typeof(new.payload -> 'subscription') = 'object')
    execute function {{.schema}}.events_set_refs();

---- create above / drop below ----

drop trigger events_set_refs on {{.schema}}.events;
create trigger events_set_refs before insert on {{.schema}}.events
    for each row when (new.refs is null and (new.type like 'subscription.%' or new.type = 'snapshot.subscription'))
    execute function {{.schema}}.events_set_refs();

drop function {{.schema}}.append_events(text[], text[], timestamptz[], text[],
    text[], text[], bytea[], text[], text[], bytea[], bytea[]);
