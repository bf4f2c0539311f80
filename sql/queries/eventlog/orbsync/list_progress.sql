select entity, since, list_from, cursor, pages, fetched, stored, duplicates, errors, done,
    last_error, started_at, updated_at, finished_at
from {{.schema}}.backfill_progress
order by entity
