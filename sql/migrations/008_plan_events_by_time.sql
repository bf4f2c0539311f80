-- A plan's history is in every subscription event that embeds it: with one
-- popular plan, a third of the log. The console lists a plan's newest
-- events; ordered by (created_at, seq) after the plan id, the index hands
-- them over newest first instead of every one of them to sort. The id
-- expression and the predicate stay exactly those of 002 (package projector
-- generates its late-event lookups against them), so those lookups use it
-- as before; it replaces the old index, so appends maintain one index, not two.
--
-- Built concurrently outside a transaction on a large log, so appends go on
-- (see 011): the new index is built under a name of its own while the old
-- one still serves lookups, then takes the old one's place. Run again after
-- a failure half-way, it builds the new index again and ends the same way.
---- tern: disable-tx ----
set statement_timeout = 0;
drop index concurrently if exists {{.schema}}.events_subscription_plan_by_time_idx;
create index concurrently events_subscription_plan_by_time_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'), created_at, seq)
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;
drop index concurrently if exists {{.schema}}.events_subscription_plan_idx;
alter index {{.schema}}.events_subscription_plan_by_time_idx rename to events_subscription_plan_idx;

---- create above / drop below ----

drop index {{.schema}}.events_subscription_plan_idx;
create index events_subscription_plan_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'))
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;
