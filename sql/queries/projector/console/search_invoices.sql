select t.id, coalesce(t.invoice_number, ''),
       concat_ws(' · ', t.status, t.total || ' ' || t.currency, t.invoice_date::date)
from {{.schema}}.invoices t
where t.id = $1 or t.invoice_number = $1
order by t.id
limit $2
