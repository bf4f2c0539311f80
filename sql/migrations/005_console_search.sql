-- The web console (package projector/console) finds billing objects by what
-- a support ticket quotes: an email (typed in any case), an invoice number,
-- a credit note number. Ids, external customer ids and external plan ids are
-- indexed already; these make the rest index lookups too.
create index customers_email_lower_idx on {{.schema}}.customers (lower(email));
create index invoices_invoice_number_idx on {{.schema}}.invoices (invoice_number);
create index credit_notes_credit_note_number_idx on {{.schema}}.credit_notes (credit_note_number);

---- create above / drop below ----

drop index {{.schema}}.credit_notes_credit_note_number_idx;
drop index {{.schema}}.invoices_invoice_number_idx;
drop index {{.schema}}.customers_email_lower_idx;
