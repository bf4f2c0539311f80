-- Reconcile and the refetch worker need the newest event of every object of
-- a type. Without this index they read every event of that type, a scan
-- that grows with the log until it passes the statement timeout; with it
-- they step from object to object (eventlog/orbsync/queries.go).
--
-- Built concurrently, outside a transaction, so appends go on while it
-- builds on a large log; the statement timeout is lifted for the build.
-- Plain columns, no predicate: such a build does not wait for other
-- concurrent builds (PostgreSQL 14+), e.g. of another schema's log. A
-- build that failed half-way leaves an invalid index, dropped first here
-- when the migration runs again. Every later index on events must be built
-- the same way (sql/sql_test.go checks it).
---- tern: disable-tx ----
set statement_timeout = 0;
drop index concurrently if exists {{.schema}}.events_type_resource_newest_idx;
create index concurrently events_type_resource_newest_idx
    on {{.schema}}.events (resource_type, resource_id, created_at desc, seq desc);

---- create above / drop below ----

drop index {{.schema}}.events_type_resource_newest_idx;
