-- A backfill run again after a complete one continues each entity's
-- listing from where the complete one began (less an overlap), instead of
-- doing nothing: list_from is that listing's lower bound, while since keeps
-- saying what the complete listings together cover.
alter table {{.schema}}.backfill_progress add column list_from timestamptz;

---- create above / drop below ----

alter table {{.schema}}.backfill_progress drop column list_from;
