-- CREATE UNLOGGED TABLE $2 with the columns of $1 (types, generated
-- expressions, NOT NULL, checks) and primary key $3.
select format('create unlogged table %s (%s, primary key (%s))', $2::text,
    string_agg(format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
        case when a.attgenerated <> '' then format(' generated always as (%s) stored', pg_get_expr(d.adbin, d.adrelid)) else '' end,
        case when a.attnotnull then ' not null' else '' end), ', ' order by a.attnum)
    || coalesce((select ', ' || string_agg(pg_get_constraintdef(k.oid), ', ')
                 from pg_catalog.pg_constraint k where k.conrelid = to_regclass($1) and k.contype = 'c'), ''),
    (select string_agg(quote_ident(k), ', ') from unnest($3::text[]) k))
from pg_catalog.pg_attribute a
left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
