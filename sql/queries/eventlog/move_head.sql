update {{.schema}}.log_head
set seq = coalesce((select max(seq) from {{.schema}}.events), 0)
