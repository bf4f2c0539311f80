-- The id of the newest event about each object $2 of type $1, in the
-- projections' order. One backward step on events_resource_idx per object.
select r.id, l.event_id
from unnest($2::text[]) as r(id)
cross join lateral (
    select e.event_id from {{.schema}}.events e
    where e.resource_id = r.id and e.resource_type = $1
    order by e.created_at desc, e.seq desc
    limit 1) l
