-- For this transaction only; $1 in milliseconds.
select pg_catalog.set_config('lock_timeout', $1, true)
