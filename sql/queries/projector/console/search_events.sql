-- An event by its Orb id (unique: no limit).
select e.event_id, e.type, concat_ws(' · ', e.source, e.resource_type, e.resource_id)
from {{.schema}}.events e
where e.event_id = $1
