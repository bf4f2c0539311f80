-- History: every version of every object (issue 11). For each current-state
-- table that changes, <table>_history has one row per version, folded from
-- the log by package projector with the same rule as <table> (a second
-- projection, <table>_history, with its own checkpoint, rebuild and verify).
--
-- A version row has every column of the current table, same names and
-- types; its last_event_id/_seq/_at name the event that produced it, and:
--   valid_from   Orb time the version starts (the producing event's created_at)
--   valid_to     Orb time the next version starts; 'infinity' while current
--   event_type, event_source   of the producing event
--   folded_seq, folded_at      on the current version only: the newest event
--                folded for the entity, so a late event is recognised
-- An event that leaves the object as it was adds no row (the change feed,
-- changes(), still lists it). Intervals are half-open: [valid_from, valid_to).

-- history_create makes <tbl>_history like <tbl> (columns, generated join
-- keys, checks) plus the version columns, and its as-of function. Later
-- migrations that add a table with history call it once.
create function {{.schema}}.history_create(tbl text) returns void
language plpgsql as $$
declare
    live text := format('%I.%I', '{{.schema_name}}', tbl);
    hist text := format('%I.%I', '{{.schema_name}}', tbl || '_history');
    col  text;
begin
    execute format('create table %s (like %s including defaults including generated including constraints,
        valid_from   timestamptz not null,
        valid_to     timestamptz not null,
        event_type   text        not null,
        event_source text        not null,
        folded_seq   bigint,
        folded_at    timestamptz,
        primary key (id, valid_from, last_event_seq))', hist, live);
    -- Whole-table as-of reads the versions still open at ts: those with
    -- valid_to > ts, narrowed by valid_from without visiting the heap.
    execute format('create index %I on %s (valid_to, valid_from)', tbl || '_history_valid_idx', hist);
    -- Every version writes its large objects again (a subscription's plan
    -- and price intervals): lz4 compresses them several times faster than
    -- the default pglz, as for the log's own payloads.
    for col in select a.attname from pg_catalog.pg_attribute a
               where a.attrelid = hist::regclass and a.attnum > 0 and not a.attisdropped
                 and a.atttypid in ('jsonb'::regtype, 'text'::regtype) and a.attgenerated = ''
    loop
        execute format('alter table %s alter column %I set compression lz4', hist, col);
    end loop;
    perform {{.schema}}.history_define_as_of(tbl);
end
$$;

-- history_define_as_of (re)creates <tbl>_as_of(ts): every entity as it
-- stood at ts. Plain SQL, so the planner inlines it: a filter on id uses
-- the primary key. A rebuild of <tbl>_history calls it again after the swap
-- (the function returns the table's row type, so it must follow the new
-- table).
create function {{.schema}}.history_define_as_of(tbl text) returns void
language plpgsql as $$
declare
    hist text := format('%I.%I', '{{.schema_name}}', tbl || '_history');
    fn   text := format('%I.%I', '{{.schema_name}}', tbl || '_as_of');
begin
    execute format('drop function if exists %s(timestamptz)', fn);
    execute format('create function %s(ts timestamptz) returns setof %s language sql stable as %L',
        fn, hist, format('select h.* from %s h where h.valid_from <= ts and h.valid_to > ts', hist));
    execute format('comment on function %s(timestamptz) is %L', fn,
        format('Every %s row as it stood at ts (Orb time): the versions of %s in effect then.', tbl, hist));
end
$$;

-- history_diff lists the fields that differ between two versions (as jsonb
-- rows): {"field": {"old": …, "new": …}}. Version bookkeeping is left out;
-- a missing key and a JSON null are the same (a first version lists only the
-- fields it sets).
create function {{.schema}}.history_diff(old jsonb, new jsonb) returns jsonb
language sql immutable as $$
    select coalesce(jsonb_object_agg(k, jsonb_build_object('old', old -> k, 'new', new -> k)), '{}'::jsonb)
    from (select jsonb_object_keys(coalesce(old, '{}')) union select jsonb_object_keys(coalesce(new, '{}'))) as keys(k)
    where k not in ('last_event_id', 'last_event_seq', 'last_event_at', 'valid_from', 'valid_to',
                    'event_type', 'event_source', 'folded_seq', 'folded_at')
      and coalesce(old -> k, 'null') <> coalesce(new -> k, 'null')
$$;

-- changes() is the change feed: per event, what it changed in each history
-- table, oldest first (Orb time, then log position). An event that produced
-- a version gives a row with the changed fields, old and new values;
-- an event about a resource that changed nothing gives a row with changed =
-- false. Filters: table (e.g. 'invoices'), entity id, and an Orb-time range
-- [since, until]. The history tables are found by name, so a table added
-- later with history_create is in the feed with no change here.
create function {{.schema}}.changes(
    p_table text default null, p_id text default null,
    p_since timestamptz default '-infinity', p_until timestamptz default 'infinity')
returns table (
    seq bigint, event_id text, event_type text, source text, created_at timestamptz,
    resource text, resource_id text, changed boolean, changes jsonb,
    previous_attributes jsonb, properties jsonb)
language plpgsql stable as $$
declare
    tbl   text;
    parts text[] := '{}';
    ev    text := format('%I.events', '{{.schema_name}}');
begin
    for tbl in
        select left(c.relname, -8) from pg_catalog.pg_class c
        where c.relnamespace = '{{.schema_name}}'::regnamespace and c.relkind = 'r'
          and c.relname like '%\_history' and (p_table is null or c.relname = p_table || '_history')
          and exists (select from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'valid_to')
        order by 1
    loop
        parts := parts || format($q$
            select e.seq, e.event_id, e.type, e.source, e.created_at, %1$L::text, h.id, true,
                   %3$I.history_diff(to_jsonb(p), to_jsonb(h)),
                   e.payload -> 'properties' -> 'previous_attributes', e.payload -> 'properties'
            from %2$s h
            join %4$s e on e.seq = h.last_event_seq
            left join lateral (
                select * from %2$s x where x.id = h.id and (x.valid_from, x.last_event_seq) < (h.valid_from, h.last_event_seq)
                order by x.valid_from desc, x.last_event_seq desc limit 1
            ) p on true
            where ($1 is null or h.id = $1) and h.valid_from between $2 and $3$q$,
            tbl, format('%I.%I', '{{.schema_name}}', tbl || '_history'), '{{.schema_name}}', ev);
        -- Events about this table's resource type (customers: 'customer')
        -- that produced no version of it.
        parts := parts || format($q$
            select e.seq, e.event_id, e.type, e.source, e.created_at, %1$L::text, e.resource_id, false, '{}'::jsonb,
                   e.payload -> 'properties' -> 'previous_attributes', e.payload -> 'properties'
            from %4$s e
            where e.resource_type = %3$L and e.resource_id is not null
              and ($1 is null or e.resource_id = $1) and e.created_at between $2 and $3
              and not exists (select from %2$s h where h.id = e.resource_id and h.last_event_seq = e.seq)$q$,
            tbl, format('%I.%I', '{{.schema_name}}', tbl || '_history'), left(tbl, -1), ev);
    end loop;
    if cardinality(parts) = 0 then
        return;
    end if;
    return query execute 'select * from (' || array_to_string(parts, ' union all ') || ') f order by 5, 1, 6'
        using p_id, p_since, p_until;
end
$$;

select {{.schema}}.history_create(t)
from unnest(array['customers', 'subscriptions', 'invoices', 'credit_notes', 'plans', 'billable_metrics']) t;

---- create above / drop below ----

drop function {{.schema}}.changes(text, text, timestamptz, timestamptz);
drop function {{.schema}}.customers_as_of(timestamptz);
drop function {{.schema}}.subscriptions_as_of(timestamptz);
drop function {{.schema}}.invoices_as_of(timestamptz);
drop function {{.schema}}.credit_notes_as_of(timestamptz);
drop function {{.schema}}.plans_as_of(timestamptz);
drop function {{.schema}}.billable_metrics_as_of(timestamptz);
drop table {{.schema}}.customers_history;
drop table {{.schema}}.subscriptions_history;
drop table {{.schema}}.invoices_history;
drop table {{.schema}}.credit_notes_history;
drop table {{.schema}}.plans_history;
drop table {{.schema}}.billable_metrics_history;
drop function {{.schema}}.history_diff(jsonb, jsonb);
drop function {{.schema}}.history_create(text);
drop function {{.schema}}.history_define_as_of(text);
delete from {{.schema}}.projection_checkpoints where projection like '%\_history';
