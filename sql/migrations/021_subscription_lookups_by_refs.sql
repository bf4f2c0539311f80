-- The subscription payload's lookup indexes read events.refs (issue 10).
-- The four indexes over the objects a subscription embeds (its customer's
-- and plan's ids, its plan's and price intervals' price ids; 006, 008,
-- 016) evaluated their expressions over the whole ~54 KB payload on every
-- append, each twice (the expression and the partial index's predicate),
-- while the log head is locked. events.refs (017) keeps exactly what they
-- read, about 0.5 KB, for every payload whose subscription is an object;
-- rows without refs (appended before 017, or whose subscription is not an
-- object) are read from their payload, so coalesce(refs, payload) selects
-- what the payload selects on every row (package fold ranks by it already,
-- and generates its late-event lookups against exactly these expressions).
--
-- Built concurrently outside a transaction on a large log, so appends go
-- on (see 011): each new index is built under a name of its own while the
-- old one still serves lookups, then takes the old one's name. Run again
-- after a failure half-way, it builds the new index again and ends the
-- same way. A binary older than this migration still finds its late
-- events, by a scan instead of an index: upgrade every replica.
---- tern: disable-tx ----
set statement_timeout = 0;

drop index concurrently if exists {{.schema}}.events_subscription_customer_refs_idx;
create index concurrently events_subscription_customer_refs_idx on {{.schema}}.events
    (((coalesce(refs, payload) -> 'subscription' -> 'customer') ->> 'id'))
    where ((coalesce(refs, payload) -> 'subscription' -> 'customer') ->> 'id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_customer_idx;
alter index {{.schema}}.events_subscription_customer_refs_idx rename to events_subscription_customer_idx;

drop index concurrently if exists {{.schema}}.events_subscription_plan_refs_idx;
create index concurrently events_subscription_plan_refs_idx on {{.schema}}.events
    (((coalesce(refs, payload) -> 'subscription' -> 'plan') ->> 'id'), created_at, seq)
    where ((coalesce(refs, payload) -> 'subscription' -> 'plan') ->> 'id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_plan_idx;
alter index {{.schema}}.events_subscription_plan_refs_idx rename to events_subscription_plan_idx;

drop index concurrently if exists {{.schema}}.events_subscription_plan_prices_refs_idx;
create index concurrently events_subscription_plan_prices_refs_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(coalesce(refs, payload) -> 'subscription', '$.plan.prices[*].id'))
    where jsonb_path_query_array(coalesce(refs, payload) -> 'subscription', '$.plan.prices[*].id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_plan_prices_idx;
alter index {{.schema}}.events_subscription_plan_prices_refs_idx rename to events_subscription_plan_prices_idx;

drop index concurrently if exists {{.schema}}.events_subscription_interval_prices_refs_idx;
create index concurrently events_subscription_interval_prices_refs_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(coalesce(refs, payload) -> 'subscription', '$.price_intervals[*].price.id'))
    where jsonb_path_query_array(coalesce(refs, payload) -> 'subscription', '$.price_intervals[*].price.id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_interval_prices_idx;
alter index {{.schema}}.events_subscription_interval_prices_refs_idx rename to events_subscription_interval_prices_idx;

---- create above / drop below ----

drop index {{.schema}}.events_subscription_interval_prices_idx;
create index events_subscription_interval_prices_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(payload -> 'subscription', '$.price_intervals[*].price.id'))
    where jsonb_path_query_array(payload -> 'subscription', '$.price_intervals[*].price.id') is not null;
drop index {{.schema}}.events_subscription_plan_prices_idx;
create index events_subscription_plan_prices_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(payload -> 'subscription', '$.plan.prices[*].id'))
    where jsonb_path_query_array(payload -> 'subscription', '$.plan.prices[*].id') is not null;
drop index {{.schema}}.events_subscription_plan_idx;
create index events_subscription_plan_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'), created_at, seq)
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;
drop index {{.schema}}.events_subscription_customer_idx;
create index events_subscription_customer_idx on {{.schema}}.events (((payload -> 'subscription' -> 'customer') ->> 'id'))
    where ((payload -> 'subscription' -> 'customer') ->> 'id') is not null;
