-- The head and the slowest live projection's checkpoint (a paused one,
-- migration 026, is left where it is on purpose).
select (select seq from {{.schema}}.log_head), coalesce(min(seq), 0) from {{.schema}}.projection_checkpoints where not paused
