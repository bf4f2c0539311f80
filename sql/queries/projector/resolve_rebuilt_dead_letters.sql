-- The live table's ($1) unresolved dead letters that the rebuild (its
-- dead letters under $2) applied are resolved; resolved ones stay as
-- history.
update {{.schema}}.dead_letters d set resolved_at = now()
where d.projection = $1 and d.resolved_at is null
  and not exists (select from {{.schema}}.dead_letters s where s.projection = $2 and s.seq = d.seq)
