-- The append (migration 014): parses the bodies, then locks the head until
-- the transaction ends, stores the events not already in the log numbered
-- after it, and moves it. Runs under READ COMMITTED.
select appended_id, appended_seq
from {{.schema}}.append_events($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                               $6::text[], $7::bytea[], $8::text[], $9::text[], $10::bytea[])
