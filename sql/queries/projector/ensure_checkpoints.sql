insert into {{.schema}}.projection_checkpoints (projection, version)
select * from unnest($1::text[], $2::int[]) on conflict (projection) do nothing
