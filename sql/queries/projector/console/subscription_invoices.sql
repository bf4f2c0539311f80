select t.id, t.invoice_number, t.status, concat_ws(' ', t.total, t.currency), t.invoice_date::date::text
from {{.schema}}.invoices t
where t.subscription_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.invoice_date desc nulls last, t.id
limit $2
