-- Compare-and-set on pages: a second backfill of the same entity (one
-- whose advisory lock session died, say) cannot interleave.
update {{.schema}}.backfill_progress set
    cursor = $3, pages = pages + 1, fetched = fetched + $4, stored = stored + $5,
    duplicates = duplicates + $6, errors = errors + $7, done = $8, last_error = null,
    updated_at = now(), finished_at = case when $8 then now() end
where entity = $1 and pages = $2
