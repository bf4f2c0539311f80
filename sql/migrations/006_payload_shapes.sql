-- Payload shapes the first projections got wrong (issue 9).
--
-- Outside a transaction (disable-tx), so that the index on events builds
-- concurrently on a large log and appends go on meanwhile (see 011). Every
-- statement may run again after a failure half-way. On a small log the
-- migration runs in one transaction as before (sql.buildInTransaction).
---- tern: disable-tx ----
set statement_timeout = 0;

-- Orb may spell an integer as 30.0 or 3e1 (JSON has one number type);
-- jsonb_populate_record refuses those for integer columns. The projector
-- passes each object through this with the table's integer columns: an
-- integral value is rewritten as an integer, a real fraction is left for
-- the column to refuse (a data error, dead-lettered).
create or replace function {{.schema}}.jsonb_integral(obj jsonb, keys text[]) returns jsonb
language sql immutable parallel safe as $$
    select case when jsonb_typeof(obj) = 'object' then obj || coalesce((
        select jsonb_object_agg(k, trunc((obj ->> k)::numeric))
        from unnest(keys) k
        where jsonb_typeof(obj -> k) = 'number' and (obj ->> k) ~ '[.eE]'
          and (obj ->> k)::numeric = trunc((obj ->> k)::numeric)
    ), '{}'::jsonb) else obj end
$$;

-- A lightweight subscription (plan_changed under summary webhooks, alert
-- events) names the new plan {id, external_plan_id, name} but must not
-- replace the full plan object. The join keys become plain columns the
-- projector writes from every shape, instead of expressions over the
-- full objects.
alter table {{.schema}}.subscriptions alter column customer_id drop expression if exists;
alter table {{.schema}}.subscriptions alter column external_customer_id drop expression if exists;
alter table {{.schema}}.subscriptions alter column plan_id drop expression if exists;

-- Full subscription payloads embed the whole customer, a source of
-- customers; late events find their history by this (as for plans).
drop index concurrently if exists {{.schema}}.events_subscription_customer_idx;
create index concurrently events_subscription_customer_idx on {{.schema}}.events (((payload -> 'subscription' -> 'customer') ->> 'id'))
    where ((payload -> 'subscription' -> 'customer') ->> 'id') is not null;

---- create above / drop below ----

drop index {{.schema}}.events_subscription_customer_idx;
alter table {{.schema}}.subscriptions drop column plan_id;
alter table {{.schema}}.subscriptions add column plan_id text generated always as (plan ->> 'id') stored;
alter table {{.schema}}.subscriptions drop column external_customer_id;
alter table {{.schema}}.subscriptions add column external_customer_id text generated always as (customer ->> 'external_customer_id') stored;
alter table {{.schema}}.subscriptions drop column customer_id;
alter table {{.schema}}.subscriptions add column customer_id text generated always as (customer ->> 'id') stored;
create index subscriptions_customer_id_idx on {{.schema}}.subscriptions (customer_id);
create index subscriptions_external_customer_id_idx on {{.schema}}.subscriptions (external_customer_id);
create index subscriptions_plan_id_idx on {{.schema}}.subscriptions (plan_id);
drop function {{.schema}}.jsonb_integral(jsonb, text[]);
