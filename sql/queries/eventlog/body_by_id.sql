select body, body_zstd from {{.schema}}.events where event_id = $1
