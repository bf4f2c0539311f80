insert into {{.schema}}.backfill_progress (entity, since, list_from) values ($1, $2, $3)
on conflict (entity) do update set
    since = excluded.since, list_from = excluded.list_from, cursor = '', pages = 0, fetched = 0, stored = 0,
    duplicates = 0, errors = 0, done = false, last_error = null,
    started_at = now(), updated_at = now(), finished_at = null
returning entity, since, list_from, cursor, pages, fetched, stored, duplicates, errors, done,
    last_error, started_at, updated_at, finished_at
