-- The newest event of every object of type $1, unless it is a missing
-- marker (orbsync.MissingType). Index-driven
-- (events_type_resource_newest_idx): the recursive part steps from one
-- object id to the next, one index probe each (PostgreSQL has no skip scan
-- for this), the lateral part reads one row per object, so the cost
-- follows the number of objects, not the length of the log.
with recursive ids(id) as (
    (select resource_id from {{.schema}}.events
     where resource_type = $1 and resource_id is not null
     order by resource_type, resource_id limit 1)
    union all
    select (select e.resource_id from {{.schema}}.events e
            where e.resource_type = $1 and e.resource_id > ids.id
            order by e.resource_type, e.resource_id limit 1)
    from ids where ids.id is not null)
select n.resource_id, n.event_id, n.created_at
from ids cross join lateral (
    select e.resource_id, e.event_id, e.type, e.created_at, e.seq from {{.schema}}.events e
    where e.resource_type = $1 and e.resource_id = ids.id
    order by e.created_at desc, e.seq desc
    limit 1) n
where ids.id is not null and n.type <> 'reconcile.missing'
