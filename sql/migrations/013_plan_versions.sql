-- Plans by version (issue 9): every version of every plan seen, and the
-- version plans shows; history of the objects issue 9 added (issue 11).

-- plan_versions: one row per (plan, version) seen, the full plan as that
-- version's subscriptions and snapshots carry it. version_key is
-- '<plan_id>@<version>', the projection's entity id.
create table {{.schema}}.plan_versions (
    version_key          text primary key,
    plan_id              text        not null,
    version              integer,
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
    last_event_id        text        not null,
    last_event_seq       bigint      not null,
    last_event_at        timestamptz not null
);
create unique index plan_versions_plan_id_version_idx on {{.schema}}.plan_versions (plan_id, version);
alter table {{.schema}}.plan_versions alter column adjustments set compression lz4;
alter table {{.schema}}.plan_versions alter column prices set compression lz4;
alter table {{.schema}}.plan_versions alter column plan_phases set compression lz4;

-- plans shows one version: the default plan.default_version_set named
-- (once an object of it has been seen), else the highest seen.
alter table {{.schema}}.plans add column default_version integer;
alter table {{.schema}}.plans add column latest_version integer;
alter table {{.schema}}.plans_history add column default_version integer;
alter table {{.schema}}.plans_history add column latest_version integer;

-- History of the issue-9 objects whose rows change.
select {{.schema}}.history_create(t)
from unnest(array['items', 'coupons', 'prices', 'payment_methods', 'credit_blocks']) t;

---- create above / drop below ----

drop function {{.schema}}.items_as_of(timestamptz);
drop function {{.schema}}.coupons_as_of(timestamptz);
drop function {{.schema}}.prices_as_of(timestamptz);
drop function {{.schema}}.payment_methods_as_of(timestamptz);
drop function {{.schema}}.credit_blocks_as_of(timestamptz);
drop table {{.schema}}.items_history;
drop table {{.schema}}.coupons_history;
drop table {{.schema}}.prices_history;
drop table {{.schema}}.payment_methods_history;
drop table {{.schema}}.credit_blocks_history;
delete from {{.schema}}.projection_checkpoints
where projection in ('items_history', 'coupons_history', 'prices_history', 'payment_methods_history',
                     'credit_blocks_history', 'plan_versions');
alter table {{.schema}}.plans_history drop column latest_version;
alter table {{.schema}}.plans_history drop column default_version;
alter table {{.schema}}.plans drop column latest_version;
alter table {{.schema}}.plans drop column default_version;
drop table {{.schema}}.plan_versions;
