-- The checkpoint of projection $1 if it is paused (migration 026); no row
-- when it is live.
select seq from {{.schema}}.projection_checkpoints where projection = $1 and paused
