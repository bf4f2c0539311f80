-- Orb objects the first projections left in the log (issue 9). Same
-- column rule as 002_projections.sql.
--
-- Outside a transaction (disable-tx), so that the two indexes on events
-- build concurrently on a large log and appends go on meanwhile (see 011).
-- Every statement may run again after a failure half-way: tables, columns
-- and indexes are created if missing, and an index on events that a failed
-- build left invalid is dropped before it is built again. On a small log
-- the migration runs in one transaction as before (sql.buildInTransaction).
---- tern: disable-tx ----
set statement_timeout = 0;

-- Item (FACTS.md §5.7): snapshots read by the backfill and reconcile.
create table if not exists {{.schema}}.items (
    id                   text primary key,
    archived_at          timestamptz,
    created_at           timestamptz,
    external_connections jsonb,
    metadata             jsonb,
    name                 text,
    last_event_id        text        not null,
    last_event_seq       bigint      not null,
    last_event_at        timestamptz not null
);

-- Coupon (FACTS.md §5.8), archived ones too (archived_at set).
create table if not exists {{.schema}}.coupons (
    id                 text primary key,
    archived_at        timestamptz,
    discount           jsonb,
    duration_in_months integer,
    max_redemptions    integer,
    redemption_code    text,
    times_redeemed     integer,
    last_event_id      text        not null,
    last_event_seq     bigint      not null,
    last_event_at      timestamptz not null
);
create index if not exists coupons_redemption_code_idx on {{.schema}}.coupons (redemption_code);

-- Price (FACTS.md §5.9): the shared fields typed, the model's own
-- <model_type>_config object as model_config (new model types appear over
-- time), item_id and billable_metric_id as join keys; plan_id where the
-- price came inside a plan.
create table if not exists {{.schema}}.prices (
    id                              text primary key,
    billable_metric                 jsonb,
    billing_cycle_configuration     jsonb,
    billing_mode                    text,
    cadence                         text,
    conversion_rate                 numeric,
    conversion_rate_config          jsonb,
    created_at                      timestamptz,
    credit_allocation               jsonb,
    currency                        text,
    dimensional_price_configuration jsonb,
    discount                        jsonb,
    external_price_id               text,
    fixed_price_quantity            numeric,
    invoice_grouping_key            text,
    invoicing_cycle_configuration   jsonb,
    item                            jsonb,
    maximum                         jsonb,
    maximum_amount                  numeric,
    metadata                        jsonb,
    minimum                         jsonb,
    minimum_amount                  numeric,
    model_config                    jsonb,
    model_type                      text,
    name                            text,
    plan_id                         text,
    plan_phase_order                integer,
    price_type                      text,
    replaces_price_id               text,
    item_id                         text generated always as (item ->> 'id') stored,
    billable_metric_id              text generated always as (billable_metric ->> 'id') stored,
    last_event_id                   text        not null,
    last_event_seq                  bigint      not null,
    last_event_at                   timestamptz not null
);
create index if not exists prices_item_id_idx on {{.schema}}.prices (item_id);
create index if not exists prices_plan_id_idx on {{.schema}}.prices (plan_id);
create index if not exists prices_external_price_id_idx on {{.schema}}.prices (external_price_id);
create index if not exists prices_billable_metric_id_idx on {{.schema}}.prices (billable_metric_id);

-- payment_method.created / deleted (FACTS.md §2.2 #48-49). A deleted
-- payment method keeps its row, with deleted_at.
create table if not exists {{.schema}}.payment_methods (
    id                         text primary key,
    created_at                 timestamptz,
    customer_id                text,
    "default"                  boolean,
    deleted_at                 timestamptz,
    external_payment_method_id text,
    payment_method_type        text,
    provider_type              text,
    last_event_id              text        not null,
    last_event_seq             bigint      not null,
    last_event_at              timestamptz not null
);
create index if not exists payment_methods_customer_id_idx on {{.schema}}.payment_methods (customer_id);

-- Credit blocks (FACTS.md §2.2 #4): the block in credit_block.* events and
-- in customer.credit_ledger_incremented, with its customer where known.
create table if not exists {{.schema}}.credit_blocks (
    id                      text primary key,
    balance                 numeric,
    credit_allocation       jsonb,
    credit_block_source     text,
    credit_commitment       jsonb,
    customer_id             text,
    effective_date          timestamptz,
    expiry_date             timestamptz,
    filters                 jsonb,
    maximum_initial_balance numeric,
    metadata                jsonb,
    per_unit_cost_basis     numeric,
    pricing_unit            jsonb,
    status                  text,
    last_event_id           text        not null,
    last_event_seq          bigint      not null,
    last_event_at           timestamptz not null
);
create index if not exists credit_blocks_customer_id_idx on {{.schema}}.credit_blocks (customer_id);

-- Accounting sync status per synced object, from the *.accounting_sync_*
-- events: the newest says whether the object is in the accounting
-- provider (status succeeded/failed, provider = connection_type).
create table if not exists {{.schema}}.accounting_sync (
    object_id              text primary key,
    object_type            text,
    status                 text,
    provider               text,
    failure_reason         text,
    customer_id            text,
    accounting_sync_record jsonb,
    last_event_type        text,
    last_event_id          text        not null,
    last_event_seq         bigint      not null,
    last_event_at          timestamptz not null
);
create index if not exists accounting_sync_customer_id_idx on {{.schema}}.accounting_sync (customer_id);
create index if not exists accounting_sync_status_idx on {{.schema}}.accounting_sync (status, object_type);

-- subscription.alert_disabled (FACTS.md §2.2 #58) is an alert event too.
alter table {{.schema}}.subscription_alerts add column if not exists reason text;
alter table {{.schema}}.subscription_alerts add column if not exists cardinality bigint;
alter table {{.schema}}.subscription_alerts add column if not exists cardinality_limit bigint;

-- A metric's item, the join key to items and prices.
alter table {{.schema}}.billable_metrics add column if not exists item_id text generated always as (item ->> 'id') stored;
create index if not exists billable_metrics_item_id_idx on {{.schema}}.billable_metrics (item_id);

-- Late-event lookups for objects found inside other events' payloads.
drop index concurrently if exists {{.schema}}.events_ledger_block_idx;
create index concurrently events_ledger_block_idx on {{.schema}}.events (((payload -> 'properties' -> 'block') ->> 'id'))
    where ((payload -> 'properties' -> 'block') ->> 'id') is not null;
drop index concurrently if exists {{.schema}}.events_payment_method_customer_idx;
create index concurrently events_payment_method_customer_idx on {{.schema}}.events (((payload -> 'payment_method') ->> 'customer_id'))
    where ((payload -> 'payment_method') ->> 'customer_id') is not null;

do $$
declare
    r record;
begin
    for r in
        select c.relname, a.attname
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = '{{.schema_name}}'
          and c.relname in ('items', 'coupons', 'prices', 'payment_methods', 'credit_blocks', 'accounting_sync')
          and a.atttypid = 'jsonb'::regtype and a.attnum > 0 and not a.attisdropped
    loop
        execute format('alter table %I.%I alter column %I set compression lz4',
                       '{{.schema_name}}', r.relname, r.attname);
    end loop;
end
$$;

---- create above / drop below ----

drop index {{.schema}}.events_payment_method_customer_idx;
drop index {{.schema}}.events_ledger_block_idx;
alter table {{.schema}}.billable_metrics drop column item_id;
alter table {{.schema}}.subscription_alerts drop column cardinality_limit;
alter table {{.schema}}.subscription_alerts drop column cardinality;
alter table {{.schema}}.subscription_alerts drop column reason;
drop table {{.schema}}.accounting_sync;
drop table {{.schema}}.credit_blocks;
drop table {{.schema}}.payment_methods;
drop table {{.schema}}.prices;
drop table {{.schema}}.coupons;
drop table {{.schema}}.items;
