select p.id, p.name, p.external_plan_id
from {{.schema}}.subscriptions t
join {{.schema}}.plans p on p.id = t.plan_id
where t.id = $1
limit $2
