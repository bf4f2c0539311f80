-- The distinct types of the events after position $1 up to $2.
select distinct type from {{.schema}}.events where seq > $1 and seq <= $2
