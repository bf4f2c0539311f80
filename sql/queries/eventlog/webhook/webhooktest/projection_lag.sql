-- The log head minus the slowest live projection's checkpoint. Paused ones
-- (migration 026) are left out; the flag is read through to_jsonb because
-- the load generator also measures builds from before that migration.
select coalesce((select seq from {{.schema}}.log_head) -
                (select min(c.seq) from {{.schema}}.projection_checkpoints c
                 where not coalesce((to_jsonb(c) ->> 'paused')::boolean, false)), 0)
