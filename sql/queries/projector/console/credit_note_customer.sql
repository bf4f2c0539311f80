select c.id, c.name, c.external_customer_id
from {{.schema}}.credit_notes t
join {{.schema}}.customers c on c.id = t.customer_id
where t.id = $1
limit $2
