select seq, event_id, event_type, source, created_at, resource, resource_id, changed, changes,
       previous_attributes, properties
from {{.schema}}.changes($1, $2)
