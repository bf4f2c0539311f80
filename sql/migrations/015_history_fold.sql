-- The history fold's merge (issue 11): jsonb_merge_agg that starts anew at
-- each full object. The history fold keeps the state after every event, a
-- window over each entity's events; with this, one window order serves the
-- whole fold, instead of a second sort of every state per full object.

create function {{.schema}}.jsonb_fold_step(state jsonb, obj jsonb, is_full boolean) returns jsonb
language sql immutable parallel safe as $$
    select case when is_full then obj when obj is null then state else coalesce(state, '{}'::jsonb) || obj end
$$;

-- Merges jsonb objects in aggregate order, later keys winning, each full
-- object (second argument true) replacing what came before it.
create aggregate {{.schema}}.jsonb_fold_agg(jsonb, boolean) (
    sfunc = {{.schema}}.jsonb_fold_step,
    stype = jsonb
);

---- create above / drop below ----

drop aggregate {{.schema}}.jsonb_fold_agg(jsonb, boolean);
drop function {{.schema}}.jsonb_fold_step(jsonb, jsonb, boolean);
