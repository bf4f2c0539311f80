-- Refs' fingerprints (022) are the MD5 of a price's jsonb text, which
-- PostgreSQL prints in the database's encoding; the service renders that
-- text in UTF-8 (eventlog.EventRefs). In a database whose encoding is not
-- UTF-8, a price with non-ASCII text would get another fingerprint from
-- the service than from event_refs, and refs would depend on who built
-- them. There the trigger builds refs for every event, whatever the
-- service sent; in a UTF-8 database (initdb's usual, and the tests') it
-- still builds only the refs the service left out.
drop trigger events_set_refs on {{.schema}}.events;
create trigger events_set_refs before insert on {{.schema}}.events
    for each row when ((new.refs is null or current_setting('server_encoding') <> 'UTF8')
        and jsonb_typeof(new.payload -> 'subscription') = 'object')
    execute function {{.schema}}.events_set_refs();

---- create above / drop below ----

drop trigger events_set_refs on {{.schema}}.events;
create trigger events_set_refs before insert on {{.schema}}.events
    for each row when (new.refs is null and jsonb_typeof(new.payload -> 'subscription') = 'object')
    execute function {{.schema}}.events_set_refs();
