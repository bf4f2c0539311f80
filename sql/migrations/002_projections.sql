-- TEMP placeholder on branch backfill: tern refuses gaps in the migration
-- numbers, and 002 belongs to the projector branch. Drop this file when the
-- two branches merge (the projector's 002_projections.sql replaces it).
select 1;

---- create above / drop below ----

select 1;
