select seq from {{.schema}}.log_head
