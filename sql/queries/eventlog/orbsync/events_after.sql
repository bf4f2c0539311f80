-- What the refetch worker needs to know about each event after $1,
-- computed in the database so whole payloads never travel, and only for
-- events it may act on (a snapshot's payload is not even read).
select seq, type, source, coalesce(resource_type, ''), coalesce(resource_id, ''),
    coalesce(case when source <> 'snapshot' and resource_type = 'invoice' then
        jsonb_typeof(payload->'invoice') = 'object' and payload->'invoice' ? 'line_items' end, false),
    coalesce(case when source <> 'snapshot' and resource_type = 'subscription' then
        jsonb_typeof(payload->'subscription') = 'object' and payload->'subscription' ? 'price_intervals' end, false),
    coalesce(case when source <> 'snapshot' and resource_type = 'subscription' then
        payload->'subscription'->>'current_billing_period_end_date' end, ''),
    coalesce(case when source <> 'snapshot' and resource_type = 'plan' then
        payload->'plan'->>'external_plan_id' end, '')
from {{.schema}}.events
where seq > $1
order by seq
limit $2
