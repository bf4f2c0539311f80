select s.id, s.plan ->> 'name', s.status
from {{.schema}}.invoices t
join {{.schema}}.subscriptions s on s.id = t.subscription_id
where t.id = $1
limit $2
