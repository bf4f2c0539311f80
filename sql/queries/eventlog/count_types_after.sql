-- How many events of each type other than $3 lie after position $1 up to $2.
select type, count(*) from {{.schema}}.events
where seq > $1 and seq <= $2 and type <> all ($3::text[])
group by type
