insert into {{.schema}}.sync_checkpoints (job, seq) values ($1, $2)
on conflict (job) do update set seq = excluded.seq, updated_at = now()
