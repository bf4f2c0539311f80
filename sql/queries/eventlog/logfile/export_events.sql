-- count_events.sql's events, in log order.
select seq, event_id, type, created_at, received_at, source, resource_type, resource_id,
       orb_timestamp, orb_signature, body, body_zstd
from {{.schema}}.events
where ($1::timestamptz is null or created_at >= $1) and ($2::timestamptz is null or created_at < $2)
order by seq
