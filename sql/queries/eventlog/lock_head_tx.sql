-- lock_head.sql for a caller's transaction, checking it can append.
select current_setting('transaction_isolation') from {{.schema}}.log_head for update
