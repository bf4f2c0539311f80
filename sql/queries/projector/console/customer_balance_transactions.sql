select t.id, to_char(t.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), t.action,
       t.amount::text, t.ending_balance::text, t.description
from {{.schema}}.customer_balance_transactions t
where t.customer_id = $1 and ($3::timestamptz is null or t.created_at <= $3)
order by t.created_at desc nulls last, t.id
limit $2
