-- Current-state tables projected from the event log by package projector,
-- plus its bookkeeping (checkpoints, dead letters).
--
-- Column rule: every top-level field of Orb's object (FACTS.md §5) is a
-- column under Orb's own name, so jsonb_populate_record maps a payload onto
-- a row by name. Decimal strings are numeric, timestamps timestamptz,
-- objects and arrays jsonb, integers integer, booleans boolean, the rest
-- text. Only the key is NOT NULL: payload shapes vary, and a partial payload
-- must be able to create a row. Join keys users need are stored generated
-- columns, so the projector never writes them and they cannot drift from the
-- object they come from. A migration that adds a column named after an Orb
-- field needs no code change: the projector reads the columns at start and
-- a re-projection fills history.
--
-- Provenance, on every row: the event that last wrote it (the newest event
-- folded into it, by Orb created_at then log position).

-- Merges jsonb objects in aggregate order, later keys winning: the fold of
-- partial payloads onto a full one. jsonb_concat is the function behind ||.
create aggregate {{.schema}}.jsonb_merge_agg(jsonb) (
    sfunc = pg_catalog.jsonb_concat,
    stype = jsonb
);

-- One row per projection: the log position it has applied up to. Moved in
-- the same transaction as the rows it covers, and compared-and-set, so a
-- crash never loses or double-applies and a stale runner fails.
create table {{.schema}}.projection_checkpoints (
    projection text        primary key,
    seq        bigint      not null default 0 check (seq >= 0),
    -- The projection's definition version that wrote the table.
    version    integer     not null,
    updated_at timestamptz not null default now()
);

-- Events a projection could not apply (for example a value that does not
-- fit its column). While unresolved they are left out of every fold, live
-- and rebuild alike, so both give the same table.
create table {{.schema}}.dead_letters (
    projection  text        not null,
    seq         bigint      not null,
    event_id    text        not null,
    event_type  text        not null,
    error       text        not null,
    sqlstate    text,
    first_seen  timestamptz not null default now(),
    last_seen   timestamptz not null default now(),
    retries     integer     not null default 0,
    resolved_at timestamptz,
    primary key (projection, seq)
);

create index dead_letters_unresolved_idx on {{.schema}}.dead_letters (projection)
    where resolved_at is null;

-- Customer (FACTS.md §5.1).
create table {{.schema}}.customers (
    id                            text primary key,
    accounting_sync_configuration jsonb,
    additional_emails             jsonb,
    auto_collection               boolean,
    auto_issuance                 boolean,
    automatic_tax_enabled         boolean,
    balance                       numeric,
    billing_address               jsonb,
    created_at                    timestamptz,
    currency                      text,
    default_payment_method        jsonb,
    email                         text,
    email_delivery                boolean,
    exempt_from_automated_tax     boolean,
    external_customer_id          text,
    hierarchy                     jsonb,
    metadata                      jsonb,
    name                          text,
    payment_configuration         jsonb,
    payment_provider              text,
    payment_provider_id           text,
    portal_url                    text,
    reporting_configuration       jsonb,
    shipping_address              jsonb,
    tax_id                        jsonb,
    timezone                      text,
    last_event_id                 text        not null,
    last_event_seq                bigint      not null,
    last_event_at                 timestamptz not null
);
create index customers_external_customer_id_idx on {{.schema}}.customers (external_customer_id);

-- Subscription (FACTS.md §5.2). customer and plan are the full embedded
-- objects, as Orb sends them.
create table {{.schema}}.subscriptions (
    id                                 text primary key,
    active_plan_phase_order            integer,
    adjustment_intervals               jsonb,
    auto_collection                    boolean,
    auto_issuance                      boolean,
    billing_cycle_anchor_configuration jsonb,
    billing_cycle_day                  integer,
    created_at                         timestamptz,
    current_billing_period_end_date    timestamptz,
    current_billing_period_start_date  timestamptz,
    customer                           jsonb,
    default_invoice_memo               text,
    discount_intervals                 jsonb,
    end_date                           timestamptz,
    fixed_fee_quantity_schedule        jsonb,
    invoicing_threshold                numeric,
    maximum_intervals                  jsonb,
    metadata                           jsonb,
    minimum_intervals                  jsonb,
    name                               text,
    net_terms                          integer,
    pending_subscription_change        jsonb,
    plan                               jsonb,
    price_intervals                    jsonb,
    redeemed_coupon                    jsonb,
    start_date                         timestamptz,
    status                             text,
    trial_info                         jsonb,
    customer_id                        text generated always as (customer ->> 'id') stored,
    external_customer_id               text generated always as (customer ->> 'external_customer_id') stored,
    plan_id                            text generated always as (plan ->> 'id') stored,
    last_event_id                      text        not null,
    last_event_seq                     bigint      not null,
    last_event_at                      timestamptz not null
);
create index subscriptions_customer_id_idx on {{.schema}}.subscriptions (customer_id);
create index subscriptions_external_customer_id_idx on {{.schema}}.subscriptions (external_customer_id);
create index subscriptions_plan_id_idx on {{.schema}}.subscriptions (plan_id);

-- Invoice (FACTS.md §5.3).
create table {{.schema}}.invoices (
    id                            text primary key,
    amount_due                    numeric,
    auto_collection               jsonb,
    billing_address               jsonb,
    created_at                    timestamptz,
    credit_notes                  jsonb,
    currency                      text,
    customer                      jsonb,
    customer_balance_transactions jsonb,
    customer_tax_id               jsonb,
    discount                      jsonb,
    discounts                     jsonb,
    due_date                      timestamptz,
    eligible_to_issue_at          timestamptz,
    hosted_invoice_url            text,
    invoice_date                  timestamptz,
    invoice_number                text,
    invoice_pdf                   text,
    invoice_source                text,
    issue_failed_at               timestamptz,
    issued_at                     timestamptz,
    line_items                    jsonb,
    maximum                       jsonb,
    maximum_amount                numeric,
    memo                          text,
    metadata                      jsonb,
    minimum                       jsonb,
    minimum_amount                numeric,
    paid_at                       timestamptz,
    payment_attempts              jsonb,
    payment_failed_at             timestamptz,
    payment_started_at            timestamptz,
    scheduled_issue_at            timestamptz,
    shipping_address              jsonb,
    status                        text,
    subscription                  jsonb,
    subtotal                      numeric,
    sync_failed_at                timestamptz,
    total                         numeric,
    voided_at                     timestamptz,
    will_auto_issue               boolean,
    customer_id                   text generated always as (customer ->> 'id') stored,
    external_customer_id          text generated always as (customer ->> 'external_customer_id') stored,
    subscription_id               text generated always as (subscription ->> 'id') stored,
    last_event_id                 text        not null,
    last_event_seq                bigint      not null,
    last_event_at                 timestamptz not null
);
create index invoices_customer_id_idx on {{.schema}}.invoices (customer_id);
create index invoices_external_customer_id_idx on {{.schema}}.invoices (external_customer_id);
create index invoices_subscription_id_idx on {{.schema}}.invoices (subscription_id);

-- CreditNote (FACTS.md §5.4). invoice_id is Orb's own field.
create table {{.schema}}.credit_notes (
    id                        text primary key,
    created_at                timestamptz,
    credit_note_number        text,
    credit_note_pdf           text,
    customer                  jsonb,
    discounts                 jsonb,
    invoice_id                text,
    line_items                jsonb,
    maximum_amount_adjustment jsonb,
    memo                      text,
    minimum_amount_refunded   numeric,
    reason                    text,
    subtotal                  numeric,
    total                     numeric,
    type                      text,
    voided_at                 timestamptz,
    customer_id               text generated always as (customer ->> 'id') stored,
    external_customer_id      text generated always as (customer ->> 'external_customer_id') stored,
    last_event_id             text        not null,
    last_event_seq            bigint      not null,
    last_event_at             timestamptz not null
);
create index credit_notes_customer_id_idx on {{.schema}}.credit_notes (customer_id);
create index credit_notes_external_customer_id_idx on {{.schema}}.credit_notes (external_customer_id);
create index credit_notes_invoice_id_idx on {{.schema}}.credit_notes (invoice_id);

-- Plan (FACTS.md §5.5), from the full plan every subscription payload
-- embeds, API snapshots, and the name/alias in plan.* webhooks.
create table {{.schema}}.plans (
    id                   text primary key,
    adjustments          jsonb,
    base_plan            jsonb,
    base_plan_id         text,
    created_at           timestamptz,
    currency             text,
    default_invoice_memo text,
    description          text,
    discount             jsonb,
    external_plan_id     text,
    invoicing_currency   text,
    maximum              jsonb,
    maximum_amount       numeric,
    metadata             jsonb,
    minimum              jsonb,
    minimum_amount       numeric,
    name                 text,
    net_terms            integer,
    plan_phases          jsonb,
    prices               jsonb,
    product              jsonb,
    status               text,
    trial_config         jsonb,
    version              integer,
    last_event_id        text        not null,
    last_event_seq       bigint      not null,
    last_event_at        timestamptz not null
);
create index plans_external_plan_id_idx on {{.schema}}.plans (external_plan_id);

-- BillableMetric (FACTS.md §5.6).
create table {{.schema}}.billable_metrics (
    id                    text primary key,
    description           text,
    item                  jsonb,
    metadata              jsonb,
    name                  text,
    parameter_definitions jsonb,
    sql                   text,
    status                text,
    last_event_id         text        not null,
    last_event_seq        bigint      not null,
    last_event_at         timestamptz not null
);

-- properties.balance_transaction of customer.balance_transaction_created
-- (FACTS.md §2.2 #12), with the envelope's customer as customer_id /
-- external_customer_id (the transaction itself does not name it).
create table {{.schema}}.customer_balance_transactions (
    id                   text primary key,
    action               text,
    amount               numeric,
    created_at           timestamptz,
    credit_note          jsonb,
    customer_id          text,
    description          text,
    ending_balance       numeric,
    external_customer_id text,
    invoice              jsonb,
    starting_balance     numeric,
    type                 text,
    invoice_id           text generated always as (invoice ->> 'id') stored,
    credit_note_id       text generated always as (credit_note ->> 'id') stored,
    last_event_id        text        not null,
    last_event_seq       bigint      not null,
    last_event_at        timestamptz not null
);
create index customer_balance_transactions_customer_id_idx on {{.schema}}.customer_balance_transactions (customer_id);

-- Alert events, one row per event (append-only, keyed by the event id so a
-- replay never duplicates): the event's properties plus who it is about.
-- subscription.usage_exceeded / cost_exceeded / spend_exceeded /
-- grouped_cost_exceeded / invoicing_threshold_exceeded /
-- license_balance_threshold_reached (FACTS.md §2.2).
create table {{.schema}}.subscription_alerts (
    event_id                  text primary key,
    type                      text,
    created_at                timestamptz,
    subscription_id           text,
    customer_id               text,
    external_customer_id      text,
    plan_id                   text,
    alert_configuration       jsonb,
    amount_threshold          numeric,
    billable_metric_id        text,
    evaluated_amount          numeric,
    evaluated_quantity        numeric,
    grouping_keys             jsonb,
    groups                    jsonb,
    invoice_id                text,
    invoicing_threshold       numeric,
    licenses                  jsonb,
    quantity_threshold        numeric,
    threshold_invoice_created boolean,
    timeframe_end             timestamptz,
    timeframe_start           timestamptz,
    alert_id                  text generated always as (alert_configuration ->> 'id') stored,
    last_event_id             text        not null,
    last_event_seq            bigint      not null,
    last_event_at             timestamptz not null
);
create index subscription_alerts_subscription_id_idx on {{.schema}}.subscription_alerts (subscription_id, created_at);
create index subscription_alerts_customer_id_idx on {{.schema}}.subscription_alerts (customer_id, created_at);

-- customer.credit_balance_depleted / dropped / recovered.
create table {{.schema}}.customer_credit_alerts (
    event_id             text primary key,
    type                 text,
    created_at           timestamptz,
    customer_id          text,
    external_customer_id text,
    alert_configuration  jsonb,
    balance_threshold    numeric,
    pricing_unit         jsonb,
    alert_id             text generated always as (alert_configuration ->> 'id') stored,
    last_event_id        text        not null,
    last_event_seq       bigint      not null,
    last_event_at        timestamptz not null
);
create index customer_credit_alerts_customer_id_idx on {{.schema}}.customer_credit_alerts (customer_id, created_at);

-- Large objects (a subscription's plan and price intervals run to tens of
-- KB): lz4 costs a fraction of pglz's CPU on every row write.
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
          and c.relname in ('customers', 'subscriptions', 'invoices', 'credit_notes', 'plans',
                            'billable_metrics', 'customer_balance_transactions',
                            'subscription_alerts', 'customer_credit_alerts')
          and a.atttypid = 'jsonb'::regtype and a.attnum > 0 and not a.attisdropped
    loop
        execute format('alter table %I.%I alter column %I set compression lz4',
                       '{{.schema_name}}', r.relname, r.attname);
    end loop;
end
$$;

-- When an event arrives older than a row's provenance, the projector
-- recomputes that entity from its whole history, found by entity id. Most
-- entities are events.resource_id (events_resource_idx); these two are
-- not, so they get expression indexes. The expressions must stay identical
-- to the ones package projector generates (the lookup adds IS NOT NULL, so
-- the partial predicate matches).
create index events_subscription_plan_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'))
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;
create index events_balance_transaction_idx on {{.schema}}.events (((payload -> 'properties' -> 'balance_transaction') ->> 'id'))
    where ((payload -> 'properties' -> 'balance_transaction') ->> 'id') is not null;

---- create above / drop below ----

drop index {{.schema}}.events_balance_transaction_idx;
drop index {{.schema}}.events_subscription_plan_idx;
drop table {{.schema}}.customer_credit_alerts;
drop table {{.schema}}.subscription_alerts;
drop table {{.schema}}.customer_balance_transactions;
drop table {{.schema}}.billable_metrics;
drop table {{.schema}}.plans;
drop table {{.schema}}.credit_notes;
drop table {{.schema}}.invoices;
drop table {{.schema}}.subscriptions;
drop table {{.schema}}.customers;
drop table {{.schema}}.dead_letters;
drop table {{.schema}}.projection_checkpoints;
drop aggregate {{.schema}}.jsonb_merge_agg(jsonb);
