select t.id, t.credit_note_number, t.reason, t.total::text, t.invoice_id
from {{.schema}}.credit_notes t
where t.customer_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.created_at desc nulls last, t.id
limit $2
