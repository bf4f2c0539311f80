select entity, pages, fetched, stored, duplicates, errors, done, coalesce(last_error, ''), updated_at
from {{.schema}}.backfill_progress
order by entity
