-- advance_checkpoint.sql for several projections at once: returns those
-- that moved.
update {{.schema}}.projection_checkpoints c set seq = s.to_seq, updated_at = now()
from unnest($1::text[], $2::bigint[], $3::bigint[]) as s(projection, from_seq, to_seq)
where c.projection = s.projection and c.seq = s.from_seq
returning c.projection
