-- The head and the slowest projection's checkpoint.
select (select seq from {{.schema}}.log_head), coalesce(min(seq), 0) from {{.schema}}.projection_checkpoints
