select t.id, coalesce(t.name, ''), concat_ws(' · ', t.external_plan_id, t.status, t.currency)
from {{.schema}}.plans t
where t.id = $1 or t.external_plan_id = $1
order by t.id
limit $2
