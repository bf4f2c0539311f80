-- Rings NotifyChannel. A DO block rather than SELECT pg_notify: no result
-- set to read.
do $$ begin perform pg_notify('{{.schema_name}}_events', ''); end $$
