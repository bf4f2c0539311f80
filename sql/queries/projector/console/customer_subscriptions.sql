select t.id, t.plan ->> 'name', t.status, t.start_date::date::text, t.end_date::date::text
from {{.schema}}.subscriptions t
where t.customer_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.created_at desc nulls last, t.id
limit $2
