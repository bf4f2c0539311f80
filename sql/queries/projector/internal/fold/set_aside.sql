-- The events set aside for projection $1 (up to position $2) because
-- their entity could not be found: no SQLSTATE.
select projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at
from {{.schema}}.dead_letters
where projection = $1 and resolved_at is null and sqlstate is null and seq <= $2
order by seq
