-- events.refs: the skeleton of a subscription event's payload, written when
-- the event is appended, so that the tables fed by objects embedded in
-- subscriptions (customers, plans, plan_versions, prices) rank the events
-- of a batch by entity without reading each ~54 KB payload (issue 9's
-- extra sources). Package fold reads refs in place of the payload while
-- ranking, for the sources marked Refs; it must keep every key they read:
-- subscription.customer {id, email}, subscription.plan {id, version,
-- prices [{id}]}, subscription.price_intervals [{price {id}}]. Anything
-- else of the shape (a null plan, a customer that is not an object) is
-- kept as it is, so a path over refs selects what it selects over the
-- payload (item lists keep the items that are objects: the others name no
-- price).
--
-- Rows appended before this migration have no refs (the log refuses
-- updates): ranking reads their payload, as before. A trigger fills the
-- column, so every way into the log (appends, imports) fills it alike.
alter table {{.schema}}.events add column refs jsonb;

-- Built with JSON path and #> on the payload, never copying the plan or
-- the price intervals: about 0.2 ms for a 54 KB subscription payload.
create function {{.schema}}.event_refs(payload jsonb) returns jsonb
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

create function {{.schema}}.events_set_refs() returns trigger
language plpgsql as $$
begin
    new.refs := {{.schema}}.event_refs(new.payload);
    return new;
end
$$;

create trigger events_set_refs before insert on {{.schema}}.events
    for each row when (new.type like 'subscription.%' or new.type = 'snapshot.subscription')
    execute function {{.schema}}.events_set_refs();

---- create above / drop below ----

drop trigger events_set_refs on {{.schema}}.events;
drop function {{.schema}}.events_set_refs();
drop function {{.schema}}.event_refs(jsonb);
alter table {{.schema}}.events drop column refs;
