update {{.schema}}.dead_letters set retries = retries + 1 where projection = $1 and seq = $2
