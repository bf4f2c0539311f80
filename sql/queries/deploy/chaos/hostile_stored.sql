select count(*) from {{.schema}}.events where event_id like 'hostile%'
