-- Subscriptions whose newest stored state is active with a billing period
-- that has ended before $1: Orb sends no webhook when a period rolls over,
-- so their stored period is stale. Index-driven as existing_objects.sql.
with recursive ids(id) as (
    (select resource_id from {{.schema}}.events
     where resource_type = 'subscription' and resource_id is not null
     order by resource_type, resource_id limit 1)
    union all
    select (select e.resource_id from {{.schema}}.events e
            where e.resource_type = 'subscription' and e.resource_id > ids.id
            order by e.resource_type, e.resource_id limit 1)
    from ids where ids.id is not null)
select n.resource_id
from ids cross join lateral (
    select e.resource_id, e.event_id, e.type, e.created_at, e.seq from {{.schema}}.events e
    where e.resource_type = 'subscription' and e.resource_id = ids.id
    order by e.created_at desc, e.seq desc
    limit 1) n
join {{.schema}}.events e on e.seq = n.seq
where ids.id is not null
  and e.payload->'subscription'->>'status' = 'active'
  and e.payload->'subscription'->>'current_billing_period_end_date' ~ '^\d{4}-\d\d-\d\d'
  and (e.payload->'subscription'->>'current_billing_period_end_date')::timestamptz < $1
order by n.resource_id
limit $2
