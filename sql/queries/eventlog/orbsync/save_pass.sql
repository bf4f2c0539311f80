insert into {{.schema}}.sync_checkpoints (job, pass_started_at) values ($1, $2)
on conflict (job) do update set pass_started_at = excluded.pass_started_at, updated_at = now()
