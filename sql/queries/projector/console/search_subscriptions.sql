select t.id, coalesce(t.plan ->> 'name', t.name, ''), concat_ws(' · ', t.status, t.customer ->> 'name')
from {{.schema}}.subscriptions t
where t.id = $1
order by t.id
limit $2
