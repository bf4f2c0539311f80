-- Rows, highest position and head: equal when the log is gapless.
select count(*), coalesce(max(seq), 0), (select seq from {{.schema}}.log_head) from {{.schema}}.events
