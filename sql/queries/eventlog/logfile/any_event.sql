select exists (select from {{.schema}}.events)
