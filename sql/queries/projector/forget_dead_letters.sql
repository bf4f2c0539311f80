delete from {{.schema}}.dead_letters where projection = $1
