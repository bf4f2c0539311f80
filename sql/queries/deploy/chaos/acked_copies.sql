-- How many times each acknowledged event id in $1 is in the log.
select event_id, count(*) from {{.schema}}.events where event_id = any($1) group by event_id
