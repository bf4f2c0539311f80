select seq, version, updated_at from {{.schema}}.projection_checkpoints where projection = $1 for update
