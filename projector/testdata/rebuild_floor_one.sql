-- One table of rebuild_floor.sql (included by it, with :tbl, :obj, :id and
-- :types set). The id is computed once per event (the lateral), as the
-- projector's ranking does.
\echo :tbl
\if :plain
insert into :"schema".:"tbl"
select r.*
from (
    select distinct on (k.id) :obj :prov as o
    from :"schema".events e cross join lateral (select :id as id offset 0) k
    where e.seq <= :head and e.type = any (:types) and k.id is not null
    order by k.id, e.created_at desc, e.seq desc
) w
cross join lateral jsonb_populate_record(cast(null as :"schema".:"tbl"), w.o) r;
\else
insert into :"schema".:"tbl"
select r.*
from (
    select distinct on (k.id) e.seq
    from :"schema".events e cross join lateral (select :id as id offset 0) k
    where e.seq <= :head and e.type = any (:types) and k.id is not null
    order by k.id, e.created_at desc, e.seq desc
) w
join :"schema".events e on e.seq = w.seq
cross join lateral jsonb_populate_record(cast(null as :"schema".:"tbl"), :obj :prov) r;
\endif
