-- After a COPY of positions 1..$1 straight into events.
update {{.schema}}.log_head set seq = $1
