-- The backends whose client ports are $1.
select pid from pg_catalog.pg_stat_activity where client_port = any($1)
