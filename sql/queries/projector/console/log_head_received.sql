-- When the newest event ($1, the log head) was stored.
select received_at from {{.schema}}.events where seq = $1
