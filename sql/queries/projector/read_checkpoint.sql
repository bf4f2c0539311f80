select seq, version from {{.schema}}.projection_checkpoints where projection = $1
