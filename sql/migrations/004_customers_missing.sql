-- The backfill's reconcile appends a reconcile.missing event when a customer
-- that the log says exists is absent from a complete listing of Orb's API
-- (Orb sends no deletion webhooks; DELETE /customers is a soft delete). The
-- customers projection records it here instead of deleting the row; the next
-- full customer object (a webhook or a snapshot) clears it.
alter table {{.schema}}.customers add column missing_from_api_at timestamptz;

comment on column {{.schema}}.customers.missing_from_api_at is
    'When orb-sync last found this customer missing from Orb''s customer listing; NULL once a newer full customer object arrives.';

---- create above / drop below ----

alter table {{.schema}}.customers drop column missing_from_api_at;
