update {{.schema}}.backfill_progress set last_error = $2, updated_at = now() where entity = $1
