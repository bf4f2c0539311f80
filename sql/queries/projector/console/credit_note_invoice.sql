select i.id, i.invoice_number, i.status, concat_ws(' ', i.total, i.currency)
from {{.schema}}.credit_notes t
join {{.schema}}.invoices i on i.id = t.invoice_id
where t.id = $1
limit $2
