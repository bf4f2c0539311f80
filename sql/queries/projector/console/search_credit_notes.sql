select t.id, coalesce(t.credit_note_number, ''), concat_ws(' · ', t.reason, t.total, t.invoice_id)
from {{.schema}}.credit_notes t
where t.id = $1 or t.credit_note_number = $1
order by t.id
limit $2
