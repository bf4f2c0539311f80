-- Prices embedded in plans and in subscriptions' price intervals reach
-- prices (issue 9). A late event recomputes a price from every event that
-- carries it, found by these GIN indexes over the carried prices' ids
-- (package fold generates its lookups against exactly these expressions,
-- with ?|). Only events that carry the object are indexed: a strict
-- operator on the expression implies the predicate.
--
-- Built concurrently outside a transaction on a large log, so appends go
-- on (see 011); run again after a failure half-way, an index a failed
-- build left invalid is dropped and built again.
---- tern: disable-tx ----
set statement_timeout = 0;
drop index concurrently if exists {{.schema}}.events_subscription_plan_prices_idx;
create index concurrently events_subscription_plan_prices_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(payload -> 'subscription', '$.plan.prices[*].id'))
    where jsonb_path_query_array(payload -> 'subscription', '$.plan.prices[*].id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_interval_prices_idx;
create index concurrently events_subscription_interval_prices_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(payload -> 'subscription', '$.price_intervals[*].price.id'))
    where jsonb_path_query_array(payload -> 'subscription', '$.price_intervals[*].price.id') is not null;
drop index concurrently if exists {{.schema}}.events_plan_prices_idx;
create index concurrently events_plan_prices_idx on {{.schema}}.events
    using gin (jsonb_path_query_array(payload -> 'plan', '$.prices[*].id'))
    where jsonb_path_query_array(payload -> 'plan', '$.prices[*].id') is not null;

---- create above / drop below ----

drop index {{.schema}}.events_plan_prices_idx;
drop index {{.schema}}.events_subscription_interval_prices_idx;
drop index {{.schema}}.events_subscription_plan_prices_idx;
