-- The statements giving table $2 the grants, comment, storage parameters
-- and owner of table $1 (owner last: after it the rebuild's role may no
-- longer grant).
select format('grant %s on table %s to %s%s', a.privilege_type, $2::text,
              case when a.grantee = 0 then 'public' else quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) end,
              case when a.is_grantable then ' with grant option' else '' end)
from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
where c.oid = to_regclass($1) and a.grantee <> c.relowner
union all
select format('comment on table %s is %L', $2::text, d) from pg_catalog.obj_description(to_regclass($1), 'pg_class') d
where d is not null
union all
select format('alter table %s set (%s)', $2::text, array_to_string(c.reloptions, ', '))
from pg_catalog.pg_class c where c.oid = to_regclass($1) and c.reloptions is not null
union all
select format('alter table %s owner to %I', $2::text, pg_catalog.pg_get_userbyid(c.relowner))
from pg_catalog.pg_class c where c.oid = to_regclass($1) and c.relowner <> (select oid from pg_catalog.pg_roles where rolname = current_user)
