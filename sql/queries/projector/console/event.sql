-- One event by its Orb id, with both body columns (eventlog.BodyColumns):
-- exactly one is set.
select seq, event_id, type, source, created_at, received_at,
       coalesce(resource_type, ''), coalesce(resource_id, ''), body, body_zstd,
       coalesce(orb_timestamp, ''), coalesce(orb_signature, '')
from {{.schema}}.events
where event_id = $1
