-- Rings NotifyChannel, for appends inside a caller's transaction (the
-- append statement rings it too, migration 019; one notification is
-- delivered per channel and payload per transaction). A plain SELECT, not
-- a DO block, which PostgreSQL compiles anew each time.
select pg_notify('{{.schema_name}}_events', '')
