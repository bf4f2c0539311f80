-- For this transaction only: a whole log takes longer than the
-- connection's statement_timeout.
select pg_catalog.set_config('statement_timeout', '0', true)
