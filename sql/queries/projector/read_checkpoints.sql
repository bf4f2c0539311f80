select projection, seq, version, updated_at from {{.schema}}.projection_checkpoints
