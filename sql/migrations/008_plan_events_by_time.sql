-- A plan's history is in every subscription event that embeds it: with one
-- popular plan, a third of the log. The console lists a plan's newest
-- events; ordered by (created_at, seq) after the plan id, the index hands
-- them over newest first instead of every one of them to sort. The id
-- expression and the predicate stay exactly those of 002 (package projector
-- generates its late-event lookups against them), so those lookups use it
-- as before; it replaces the old index, so appends maintain one index, not two.
--
-- The build reads every subscription event once and holds appends back
-- while it runs (like every index built inside a migration).
drop index {{.schema}}.events_subscription_plan_idx;
create index events_subscription_plan_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'), created_at, seq)
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;

---- create above / drop below ----

drop index {{.schema}}.events_subscription_plan_idx;
create index events_subscription_plan_idx on {{.schema}}.events (((payload -> 'subscription' -> 'plan') ->> 'id'))
    where ((payload -> 'subscription' -> 'plan') ->> 'id') is not null;
