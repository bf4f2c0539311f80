-- Customers by id, external id or email (any case: lower(email) is indexed).
select t.id, coalesce(t.name, ''), concat_ws(' · ', t.external_customer_id, t.email)
from {{.schema}}.customers t
where t.id = $1 or t.external_customer_id = $1 or lower(t.email) = lower($1)
order by t.id
limit $2
