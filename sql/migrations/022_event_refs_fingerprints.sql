-- Fingerprints of a subscription's embedded prices in events.refs (issue
-- 11). prices_history skips an embedded price that repeats the one before
-- it (nearly every one: the plan comes in every subscription webhook), but
-- found the repeats by the MD5 of each price's text, decompressing every
-- ~54 KB payload to compute it. Each price item of refs now carries "fp",
-- the MD5 (hex) of the price object's jsonb text, so the fold compares
-- repeats from refs and reads the payload only for the prices it keeps.
--
-- Only an item that the fold's own path yields as an object gets a
-- fingerprint: a price found inside a nested array (JSON path's lax filter
-- unwraps one level) is not an item the fold reads from the payload, so
-- its id is listed as before, without "fp", and the fold falls back to
-- the payload for it. Keys and order are 017's; "fp" is only added.
--
-- The service builds the same refs (eventlog.EventRefs renders jsonb's
-- text in Go, or sends no refs, and the trigger builds them). Rows
-- appended before this migration keep their refs without fingerprints
-- (the log refuses updates); the fold reads their payload, as before. So
-- does it for rows a binary older than this migration appends during an
-- upgrade: its refs have no fingerprints either.

-- The skeleton's items for the objects path yields from payload: each
-- object, and each object inside an array it yields (one level, as the
-- lax filter ? (@.type() == "object") unwraps it), in path order, as
-- {id} where it has an id; the objects yielded themselves also get "fp".
create function {{.schema}}.event_refs_items(payload jsonb, path jsonpath)
returns table (item jsonb, n bigint, m bigint)
language sql immutable parallel safe as $$
select case when u.m = 0 then jsonb_build_object('id', u.o -> 'id', 'fp', md5(u.o::text))
            else jsonb_build_object('id', u.o -> 'id') end,
       t.n, u.m
from jsonb_path_query(payload, path) with ordinality t(v, n)
cross join lateral (
    select t.v as o, 0::bigint as m where jsonb_typeof(t.v) = 'object'
    union all
    select a.o, a.m
    from jsonb_array_elements(case when jsonb_typeof(t.v) = 'array' then t.v end) with ordinality a(o, m)
    where jsonb_typeof(a.o) = 'object'
) u
where u.o ? 'id'
$$;

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
                    coalesce((select jsonb_agg(jsonb_build_object('id', i)) from jsonb_array_elements(jsonb_path_query_array(payload,
                        'lax $.subscription.plan.prices[*] ? (@.type() == "object").id')) i), '[]') end)
            else payload #> '{subscription,plan}' end,
        'price_intervals', case when jsonb_path_exists(payload, 'strict $.subscription.price_intervals', '{}', true) then
            coalesce((select jsonb_agg(jsonb_build_object('price', jsonb_build_object('id', i))) from jsonb_array_elements(jsonb_path_query_array(payload,
                'lax $.subscription.price_intervals[*].price ? (@.type() == "object").id')) i), '[]') end)))
end
$$;

drop function {{.schema}}.event_refs_items(jsonb, jsonpath);
