select {{.schema}}.history_define_as_of($1)
