-- The rebuild's dead letters (under $2) become the live table's ($1).
insert into {{.schema}}.dead_letters as d
    (projection, seq, event_id, event_type, error, sqlstate, first_seen, last_seen, retries)
select $1, s.seq, s.event_id, s.event_type, s.error, s.sqlstate, s.first_seen, s.last_seen, s.retries
from {{.schema}}.dead_letters s where s.projection = $2
on conflict (projection, seq) do update
set error = excluded.error, sqlstate = excluded.sqlstate, last_seen = excluded.last_seen, resolved_at = null
