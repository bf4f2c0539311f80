-- The log head minus the slowest projection's checkpoint.
select coalesce((select seq from {{.schema}}.log_head) - (select min(seq) from {{.schema}}.projection_checkpoints), 0)
