-- The indexes of table $1, with the constraint each backs.
select i.indexrelid::bigint, c.relname::text, pg_catalog.pg_get_indexdef(i.indexrelid), coalesce(k.contype::text, '')
from pg_catalog.pg_index i
join pg_catalog.pg_class c on c.oid = i.indexrelid
left join pg_catalog.pg_constraint k on k.conindid = i.indexrelid and k.conrelid = i.indrelid and k.contype in ('p', 'u', 'x')
where i.indrelid = to_regclass($1)
order by i.indisprimary desc, c.relname
