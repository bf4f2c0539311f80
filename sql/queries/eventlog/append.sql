-- The append (migrations 014, 018): parses the bodies, then locks the head until
-- the transaction ends, stores the events not already in the log numbered
-- after it, and moves it. Runs under READ COMMITTED.
--
-- The bodies come as one bytea ($10) cut at offsets $11 into lengths $12:
-- pgx encodes a bytea[] by appending element after element to a buffer
-- that starts small, copying a batch's bodies several times over; one
-- bytea is one copy. $13 is each event's refs as JSON (eventlog.EventRefs),
-- NULL for the log to build.
select appended_id, appended_seq
from {{.schema}}.append_events($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                               $6::text[], $7::bytea[], $8::text[], $9::text[],
                               array(select substring($10::bytea from b.off for b.len)
                                     from unnest($11::int[], $12::int[]) with ordinality as b(off, len, ord)
                                     order by b.ord),
                               $13::bytea[])
