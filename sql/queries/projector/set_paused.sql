-- The leader's PROJECTOR_HISTORY: the projections $1 stay paused, every
-- other checkpoint is live. Only rows that change are written; returns
-- them with their checkpoints, so the leader can log what it paused or
-- resumed, and where.
update {{.schema}}.projection_checkpoints
set paused = (projection = any($1::text[]))
where paused is distinct from (projection = any($1::text[]))
returning projection, paused, seq
