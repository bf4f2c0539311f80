-- Ends the sessions whose application_name starts with $1, but ours.
select count(pg_terminate_backend(pid)) from pg_stat_activity
where application_name like $1 || '%' and pid <> pg_backend_pid()
