-- The events created from $1 (any when null) until before $2 (any when null).
select count(*) from {{.schema}}.events
where ($1::timestamptz is null or created_at >= $1) and ($2::timestamptz is null or created_at < $2)
