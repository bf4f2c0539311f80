update {{.schema}}.log_head set seq = $1
