select t.id, t.customer ->> 'name', t.status, t.start_date::date::text
from {{.schema}}.subscriptions t
where t.plan_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.created_at desc nulls last, t.id
limit $2
