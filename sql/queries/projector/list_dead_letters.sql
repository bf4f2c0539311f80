-- Every dead letter when $1, else the unresolved ones.
select projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at
from {{.schema}}.dead_letters
where $1 or resolved_at is null
order by seq, projection
