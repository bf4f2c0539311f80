-- Fingerprints of a subscription's embedded customer and plan in
-- events.refs (issue 11), as 022 added them to its embedded prices.
-- customers_history and plans_history compare each embedded customer and
-- plan with the one before it (nearly always the same: both come in every
-- subscription webhook), and read the ~54 KB payload to do it. refs'
-- customer and plan, where they are objects, now carry "fp", the MD5 (hex)
-- of the object's jsonb text, so the history fold finds repeats from refs
-- and reads the payload only for the objects it keeps.
--
-- A customer or plan that is not an object is copied as before, without
-- "fp". Keys and order are 022's; "fp" is only added. The service builds
-- the same refs (eventlog.EventRefs); rows appended before this migration,
-- or by an older binary during an upgrade, keep refs without these
-- fingerprints, and the fold reads their payload, as before.
create or replace function {{.schema}}.event_refs(payload jsonb) returns jsonb
language sql immutable parallel safe as $$
select case when jsonb_path_query_first(payload, 'strict $.subscription.type()', '{}', true) = '"object"' then
    jsonb_build_object('subscription', jsonb_strip_nulls(jsonb_build_object(
        'customer', case jsonb_path_query_first(payload, 'strict $.subscription.customer.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,customer,id}',
                'email', case when payload #> '{subscription,customer}' ? 'email' then true end,
                'fp', md5((payload #> '{subscription,customer}')::text))
            else payload #> '{subscription,customer}' end,
        'plan', case jsonb_path_query_first(payload, 'strict $.subscription.plan.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,plan,id}',
                'version', payload #> '{subscription,plan,version}',
                'prices', case when jsonb_path_exists(payload, 'strict $.subscription.plan.prices', '{}', true) then
                    coalesce((select jsonb_agg(i.item order by i.n, i.m)
                        from {{.schema}}.event_refs_items(payload, 'lax $.subscription.plan.prices[*]') i), '[]') end,
                'fp', md5((payload #> '{subscription,plan}')::text))
            else payload #> '{subscription,plan}' end,
        'price_intervals', case when jsonb_path_exists(payload, 'strict $.subscription.price_intervals', '{}', true) then
            coalesce((select jsonb_agg(jsonb_build_object('price', i.item) order by i.n, i.m)
                from {{.schema}}.event_refs_items(payload, 'lax $.subscription.price_intervals[*].price') i), '[]') end)))
end
$$;

---- create above / drop below ----

create or replace function {{.schema}}.event_refs(payload jsonb) returns jsonb
language sql immutable parallel safe as $$
select case when jsonb_path_query_first(payload, 'strict $.subscription.type()', '{}', true) = '"object"' then
    jsonb_build_object('subscription', jsonb_strip_nulls(jsonb_build_object(
        'customer', case jsonb_path_query_first(payload, 'strict $.subscription.customer.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,customer,id}',
                'email', case when payload #> '{subscription,customer}' ? 'email' then true end)
            else payload #> '{subscription,customer}' end,
        'plan', case jsonb_path_query_first(payload, 'strict $.subscription.plan.type()', '{}', true)
            when '"object"' then jsonb_build_object('id', payload #> '{subscription,plan,id}',
                'version', payload #> '{subscription,plan,version}',
                'prices', case when jsonb_path_exists(payload, 'strict $.subscription.plan.prices', '{}', true) then
                    coalesce((select jsonb_agg(i.item order by i.n, i.m)
                        from {{.schema}}.event_refs_items(payload, 'lax $.subscription.plan.prices[*]') i), '[]') end)
            else payload #> '{subscription,plan}' end,
        'price_intervals', case when jsonb_path_exists(payload, 'strict $.subscription.price_intervals', '{}', true) then
            coalesce((select jsonb_agg(jsonb_build_object('price', i.item) order by i.n, i.m)
                from {{.schema}}.event_refs_items(payload, 'lax $.subscription.price_intervals[*].price') i), '[]') end)))
end
$$;
