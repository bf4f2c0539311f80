-- Bodies compressed by orb-sync (zstd, before the append transaction) in
-- body_zstd instead of raw in body: about a third of the bytes lz4 kept, and
-- no compression while appends hold the log head (issue 10). Rows written
-- before this migration keep their raw body; readers take whichever is set
-- (eventlog.DecodeBody). payload (jsonb) is unchanged.
alter table {{.schema}}.events add column body_zstd bytea;
-- Already compressed: PostgreSQL must not spend time trying again.
alter table {{.schema}}.events alter column body_zstd set storage external;
alter table {{.schema}}.events alter column body drop not null;
-- Exactly one copy of the bytes. NOT VALID: existing rows (which all have
-- body) are not scanned, so this is quick on a large log; new rows are checked.
alter table {{.schema}}.events add constraint events_one_body
    check ((body is null) <> (body_zstd is null)) not valid;

---- create above / drop below ----

-- Going back is only possible while no row depends on body_zstd: the old
-- schema has nowhere to keep a compressed body.
do $$
begin
    if exists (select 1 from {{.schema}}.events where body_zstd is not null) then
        raise exception 'orb-sync: events have compressed bodies (body_zstd); this migration cannot be undone without losing them';
    end if;
end
$$;
alter table {{.schema}}.events drop constraint events_one_body;
alter table {{.schema}}.events alter column body set not null;
alter table {{.schema}}.events drop column body_zstd;
