-- The stored events to re-verify, in log order: those received since $1
-- (all when null), or only the event $2 (any when '').
select seq, event_id, type, source, created_at, body, body_zstd,
       coalesce(orb_timestamp, ''), coalesce(orb_signature, '')
from {{.schema}}.events
where ($1::timestamptz is null or received_at >= $1) and ($2 = '' or event_id = $2)
order by seq
