-- Names resolve against the current catalog, rows (pg_class's too) against
-- the transaction's snapshot.
select exists (select from pg_catalog.pg_class where oid = $1)
