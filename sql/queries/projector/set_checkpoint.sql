update {{.schema}}.projection_checkpoints set seq = $2, version = $3, updated_at = now() where projection = $1
