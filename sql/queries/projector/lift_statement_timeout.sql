-- For this transaction only.
select pg_catalog.set_config('statement_timeout', '0', true)
