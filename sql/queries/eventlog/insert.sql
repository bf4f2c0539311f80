-- Runs after the head's lock is held, so under READ COMMITTED its snapshot
-- sees every earlier append: the test for stored ids is exact and the
-- numbering never leaves a hole for a duplicate.
insert into {{.schema}}.events
    (seq, event_id, type, created_at, source, resource_type, resource_id,
     body_zstd, payload, orb_timestamp, orb_signature)
select h.seq + row_number() over (order by i.ord),
       i.event_id, i.type, i.created_at, i.source,
       nullif(i.resource_type, ''), nullif(i.resource_id, ''),
       i.body_zstd, convert_from(i.json, 'UTF8')::jsonb,
       nullif(i.orb_timestamp, ''), nullif(i.orb_signature, '')
from {{.schema}}.log_head h,
     unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
            $6::text[], $7::bytea[], $8::text[], $9::text[], $10::bytea[])
         with ordinality
         as i(event_id, type, created_at, source, resource_type, resource_id,
              body_zstd, orb_timestamp, orb_signature, json, ord)
-- Stored ids are looked up by index with = ANY. A NOT EXISTS here is
-- planned as a hash anti-join that scans the whole log on every append.
where i.event_id <> all (array(
    select e.event_id from {{.schema}}.events e where e.event_id = any ($1::text[])))
returning event_id, seq
