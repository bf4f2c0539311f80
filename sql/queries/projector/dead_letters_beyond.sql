-- How many unresolved dead letters there are beyond the $1 listed.
select count(*) - $1 from {{.schema}}.dead_letters where resolved_at is null
