-- Sets the event at position $2 aside for projection $1, with PostgreSQL's
-- message $3 and code $4 ('' for none).
insert into {{.schema}}.dead_letters as d
    (projection, seq, event_id, event_type, error, sqlstate)
select $1, e.seq, e.event_id, e.type, $3, nullif($4, '')
from {{.schema}}.events e where e.seq = $2
on conflict (projection, seq) do update
set error = excluded.error, sqlstate = excluded.sqlstate, last_seen = now(), resolved_at = null
returning projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at
