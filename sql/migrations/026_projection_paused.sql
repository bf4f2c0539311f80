-- A history projection can be paused (PROJECTOR_HISTORY): its table keeps
-- the versions up to its checkpoint and the projector leaves it there, for
-- accounts that do not need the audit of every table and would rather not
-- pay for it (history costs about as much as the current tables it
-- versions). The leader writes this flag from its settings each time it
-- takes the lead, so the lag read by back-pressure, the metrics and
-- `orb-sync status` (on any replica) leave a paused table out instead of
-- reporting it ever further behind. Resuming folds what it missed from the
-- log: the log keeps every event.
alter table {{.schema}}.projection_checkpoints add column paused boolean not null default false;

---- create above / drop below ----

alter table {{.schema}}.projection_checkpoints drop column paused;
