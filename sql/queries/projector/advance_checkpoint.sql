-- Compare-and-set: moves only if the checkpoint is still at $2.
update {{.schema}}.projection_checkpoints set seq = $3, updated_at = now() where projection = $1 and seq = $2
