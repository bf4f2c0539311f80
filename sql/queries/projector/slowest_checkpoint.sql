-- The log head and the slowest checkpoint among the projections $1 (NULL
-- when none has a row): two index lookups, cheap enough to read every few
-- hundred milliseconds. Rows of projections this binary does not maintain
-- are left out: nothing advances them; so are paused ones (migration 026),
-- which nothing advances on purpose.
select (select seq from {{.schema}}.log_head),
       (select min(seq) from {{.schema}}.projection_checkpoints where projection = any($1::text[]) and not paused)
