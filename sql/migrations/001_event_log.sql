-- The event log: every Orb webhook (and, later, every API snapshot) exactly as
-- received. {{.schema}} is the quoted DATABASE_SCHEMA, so two Orb accounts can
-- share one database in two schemas.

-- log_head holds the last assigned position. Appenders lock this one row for
-- the length of their transaction, so positions are handed out and become
-- visible in commit order, without gaps: a reader that has seen position P
-- has seen everything at or below P (EVENTLOG-PRACTICES.md §1, family A).
-- A rolled-back append restores the counter, because it is an ordinary row.
create table {{.schema}}.log_head (
    only_row boolean primary key default true check (only_row),
    seq      bigint  not null
);
insert into {{.schema}}.log_head (seq) values (0);

create table {{.schema}}.events (
    -- Log position: gapless and commit-ordered (see log_head).
    seq           bigint      primary key,
    -- Orb's envelope id: the idempotency key of a delivery.
    event_id      text        not null unique,
    type          text        not null,
    -- Orb's envelope created_at (for snapshots: when we read the object).
    created_at    timestamptz not null,
    received_at   timestamptz not null default clock_timestamp(),
    -- webhook: delivered to POST /webhooks; snapshot: read from the API;
    -- recovered: an Orb webhook event fetched from GET /webhook_events.
    source        text        not null default 'webhook'
                  check (source in ('webhook', 'snapshot', 'recovered')),
    -- The object the event is about (e.g. customer / cus_123), taken from the
    -- payload at append time so audits can filter without parsing JSON.
    resource_type text,
    resource_id   text,
    -- The request body byte for byte; jsonb below does not keep key order,
    -- whitespace or duplicate keys, and the signature covers these bytes.
    body          bytea       not null,
    payload       jsonb       not null,
    -- The signing headers as received, to re-verify any stored event later.
    orb_timestamp text,
    orb_signature text
);

-- Bodies are large (subscription webhooks embed the whole plan, ~50 KB) and
-- highly repetitive; lz4 costs a fraction of pglz's CPU on the append path.
alter table {{.schema}}.events alter column body set compression lz4;
alter table {{.schema}}.events alter column payload set compression lz4;

create index events_type_created_at_idx on {{.schema}}.events (type, created_at);
create index events_created_at_idx on {{.schema}}.events (created_at);
create index events_resource_idx on {{.schema}}.events (resource_id, resource_type);

-- The log is append-only: the database itself refuses to change history.
create function {{.schema}}.events_refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception 'orb-sync: the event log is append-only (% refused on %.%)',
        tg_op, tg_table_schema, tg_table_name
        using errcode = 'insufficient_privilege';
end
$$;

create trigger events_no_update before update or delete on {{.schema}}.events
    for each row execute function {{.schema}}.events_refuse_change();
create trigger events_no_truncate before truncate on {{.schema}}.events
    for each statement execute function {{.schema}}.events_refuse_change();

---- create above / drop below ----

drop table {{.schema}}.events;
drop function {{.schema}}.events_refuse_change();
drop table {{.schema}}.log_head;
