-- The oldest unresolved dead letters, at most $1.
select projection, seq, event_id, event_type, error, coalesce(sqlstate, ''),
       first_seen, last_seen, retries, resolved_at
from {{.schema}}.dead_letters
where resolved_at is null
order by seq, projection
limit $1
