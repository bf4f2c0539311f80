select seq, pass_started_at from {{.schema}}.sync_checkpoints where job = $1
