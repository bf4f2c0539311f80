-- Appends wait until the import's transaction ends.
select seq from {{.schema}}.log_head for update
