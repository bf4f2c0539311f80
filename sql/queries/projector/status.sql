-- One row per checkpoint, each subquery an index lookup. (A join with
-- log_head, unanalyzed, was estimated costly enough to be JIT-compiled for
-- 100 ms.)
select c.projection, c.seq, c.version, c.updated_at,
       coalesce(extract(epoch from clock_timestamp() -
                (select e.received_at from {{.schema}}.events e where e.seq = c.seq + 1)), 0)::float8,
       (select count(*) from {{.schema}}.dead_letters d where d.projection = c.projection and d.resolved_at is null),
       c.paused
from {{.schema}}.projection_checkpoints c
