select projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at
from {{.schema}}.dead_letters
where projection = $1 and resolved_at is null
order by seq
