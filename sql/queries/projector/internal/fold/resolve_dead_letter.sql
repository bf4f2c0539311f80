update {{.schema}}.dead_letters set resolved_at = now(), last_seen = now(), retries = retries + 1
where projection = $1 and seq = $2
returning projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at
