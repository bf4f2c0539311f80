select count(*) from {{.schema}}.events where source = 'snapshot'
