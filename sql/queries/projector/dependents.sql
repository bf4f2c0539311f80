-- What binds to table $1 by OID or is not copied by CREATE TABLE … LIKE,
-- and so would be lost or left pointing at the old table by a swap.
-- orb-sync creates none of these.
select format('view %s', v.oid::regclass) from pg_catalog.pg_depend d
join pg_catalog.pg_rewrite w on w.oid = d.objid
join pg_catalog.pg_class v on v.oid = w.ev_class
where d.classid = 'pg_catalog.pg_rewrite'::regclass and d.refclassid = 'pg_catalog.pg_class'::regclass
  and d.refobjid = to_regclass($1) and v.oid <> d.refobjid
union
select format('foreign key %I on %s', k.conname, k.conrelid::regclass) from pg_catalog.pg_constraint k
where k.contype = 'f' and to_regclass($1) in (k.conrelid, k.confrelid)
union
select format('trigger %I', t.tgname) from pg_catalog.pg_trigger t
where t.tgrelid = to_regclass($1) and not t.tgisinternal
union
select format('policy %I', p.polname) from pg_catalog.pg_policy p where p.polrelid = to_regclass($1)
union
select format('publication %I', p.pubname) from pg_catalog.pg_publication_rel r
join pg_catalog.pg_publication p on p.oid = r.prpubid where r.prrelid = to_regclass($1)
order by 1
