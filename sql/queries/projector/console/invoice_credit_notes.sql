select t.id, t.credit_note_number, t.reason, t.total::text
from {{.schema}}.credit_notes t
where t.invoice_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.created_at desc nulls last, t.id
limit $2
