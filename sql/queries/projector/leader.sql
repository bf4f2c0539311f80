-- The application_name of the session holding the projector lock ($1, $2),
-- or ''.
select coalesce((select a.application_name from pg_catalog.pg_locks l
                 join pg_catalog.pg_stat_activity a on a.pid = l.pid
                 where l.locktype = 'advisory' and l.granted and l.objsubid = 2
                   and l.classid::bigint = $1 and l.objid::bigint = $2
                   and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
                 limit 1), '')
