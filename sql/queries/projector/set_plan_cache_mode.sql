-- For this transaction only: how PostgreSQL plans the prepared fold
-- statements ($1: force_generic_plan or force_custom_plan).
select pg_catalog.set_config('plan_cache_mode', $1, true)
