-- The floor a rebuild is measured against: per table, one hand-written
-- INSERT … SELECT DISTINCT ON (id) … ORDER BY id, created_at DESC, seq DESC
-- over the same events (seq <= the head), into an empty scratch table.
-- It is "newest event wins" only: no partial payloads, no dead letters, no
-- generated columns. Two forms:
--
--   plain:   DISTINCT ON over the populated rows, as one would write it
--            first: every event's object is read and sorted.
--   winners: DISTINCT ON over the cheap columns, then only the winners'
--            objects are read (what the projector's fold does too).
--
-- Run against a filled schema (orb-sync loadgen --fill …):
--
--   psql "$DATABASE_URL" -v schema=reproj_bench -v form=winners -f projector/testdata/rebuild_floor.sql
--
-- It creates and drops <schema>.floor_<table>; nothing else is touched.

\set ON_ERROR_STOP on
-- The projector's transactions run without JIT (target.go prepareTx); so
-- does the floor, so that the comparison is of the SQL alone.
set jit = off;
\timing on
select seq as head from :"schema".log_head \gset
\echo floor form :form over :head log events

-- Scratch tables with the live tables' columns, all plain (no generated
-- columns, no indexes).
drop table if exists :"schema".floor_customers, :"schema".floor_subscriptions, :"schema".floor_invoices,
    :"schema".floor_credit_notes, :"schema".floor_plans, :"schema".floor_billable_metrics,
    :"schema".floor_customer_balance_transactions, :"schema".floor_subscription_alerts, :"schema".floor_customer_credit_alerts;
create table :"schema".floor_customers as table :"schema".customers with no data;
create table :"schema".floor_subscriptions as table :"schema".subscriptions with no data;
create table :"schema".floor_invoices as table :"schema".invoices with no data;
create table :"schema".floor_credit_notes as table :"schema".credit_notes with no data;
create table :"schema".floor_plans as table :"schema".plans with no data;
create table :"schema".floor_billable_metrics as table :"schema".billable_metrics with no data;
create table :"schema".floor_customer_balance_transactions as table :"schema".customer_balance_transactions with no data;
create table :"schema".floor_subscription_alerts as table :"schema".subscription_alerts with no data;
create table :"schema".floor_customer_credit_alerts as table :"schema".customer_credit_alerts with no data;

-- Event types, as in projector/catalog.go.
\set customer_types 'array[''customer.accounting_sync_failed'', ''customer.accounting_sync_succeeded'', ''customer.balance_transaction_created'', ''customer.created'', ''customer.credit_balance_depleted'', ''customer.credit_balance_dropped'', ''customer.credit_balance_recovered'', ''customer.credit_ledger_incremented'', ''customer.edited'', ''snapshot.customer'']'
\set subscription_types 'array[''subscription.accounting_sync_failed'', ''subscription.accounting_sync_succeeded'', ''subscription.cancellation_scheduled'', ''subscription.cancellation_unscheduled'', ''subscription.cost_exceeded'', ''subscription.created'', ''subscription.edited'', ''subscription.ended'', ''subscription.fixed_fee_quantity_updated'', ''subscription.plan_change_scheduled'', ''subscription.plan_changed'', ''subscription.plan_version_change_scheduled'', ''subscription.plan_version_changed'', ''subscription.spend_exceeded'', ''subscription.started'', ''subscription.trial_ended'', ''subscription.usage_exceeded'', ''snapshot.subscription'']'
\set invoice_types 'array[''invoice.accounting_sync_failed'', ''invoice.accounting_sync_succeeded'', ''invoice.dunning_schedule_created'', ''invoice.dunning_schedule_ended'', ''invoice.dunning_schedule_reset'', ''invoice.dunning_schedule_step_executed'', ''invoice.edited'', ''invoice.issue_failed'', ''invoice.issued'', ''invoice.issued_summary'', ''invoice.manually_marked_as_paid'', ''invoice.manually_marked_as_void'', ''invoice.payment_failed'', ''invoice.payment_processing'', ''invoice.payment_succeeded'', ''invoice.sync_failed'', ''invoice.sync_succeeded'', ''invoice.undo_mark_as_paid'', ''sales_order.accounting_sync_failed'', ''sales_order.accounting_sync_succeeded'', ''snapshot.invoice'', ''invoice.invoice_date_elapsed'', ''invoice.automation_schedule_step_executed'']'
\set credit_note_types 'array[''credit_note.accounting_sync_failed'', ''credit_note.accounting_sync_succeeded'', ''credit_note.issued'', ''credit_note.marked_as_void'', ''snapshot.credit_note'']'
\set plan_types 'array[''snapshot.plan'', ''plan.default_version_set'', ''plan.version_created'']'
\set metric_types 'array[''billable_metric.edited'', ''snapshot.billable_metric'']'
\set subscription_alert_types 'array[''subscription.cost_exceeded'', ''subscription.grouped_cost_exceeded'', ''subscription.invoicing_threshold_exceeded'', ''subscription.license_balance_threshold_reached'', ''subscription.spend_exceeded'', ''subscription.usage_exceeded'']'
\set credit_alert_types 'array[''customer.credit_balance_depleted'', ''customer.credit_balance_dropped'', ''customer.credit_balance_recovered'']'

-- One statement per table. :obj is the object's expression over e, :id the
-- entity id, :types the event types, :tbl the scratch table.
\set prov '|| jsonb_build_object(''last_event_id'', e.event_id, ''last_event_seq'', e.seq, ''last_event_at'', e.created_at)'

\if :{?form}
\else
\set form winners
\endif
\set plain `test "$form" = plain && echo true || echo false`
\echo

\set tbl floor_customers
\set obj '(e.payload -> ''customer'')'
\set id 'e.resource_id'
\set types :customer_types
\ir rebuild_floor_one.sql

\set tbl floor_subscriptions
\set obj '(e.payload -> ''subscription'')'
\set types :subscription_types
\ir rebuild_floor_one.sql

\set tbl floor_invoices
\set obj '(e.payload -> ''invoice'')'
\set types :invoice_types
\ir rebuild_floor_one.sql

\set tbl floor_credit_notes
\set obj '(e.payload -> ''credit_note'')'
\set types :credit_note_types
\ir rebuild_floor_one.sql

-- Plans: the plan every subscription payload embeds, and plan snapshots
-- and webhooks. The id is inside the payload, so every event is read.
\set tbl floor_plans
\set obj 'coalesce(e.payload -> ''subscription'' -> ''plan'', e.payload -> ''plan'')'
\set id '(coalesce(e.payload -> ''subscription'' -> ''plan'', e.payload -> ''plan'') ->> ''id'')'
\set types 'array_cat(' :subscription_types ', ' :plan_types ')'
\ir rebuild_floor_one.sql

\set tbl floor_billable_metrics
\set obj '(e.payload -> ''billable_metric'')'
\set id 'e.resource_id'
\set types :metric_types
\ir rebuild_floor_one.sql

\set tbl floor_customer_balance_transactions
\set obj '(e.payload -> ''properties'' -> ''balance_transaction'')'
\set id '(e.payload -> ''properties'' -> ''balance_transaction'' ->> ''id'')'
\set types 'array[''customer.balance_transaction_created'']'
\ir rebuild_floor_one.sql

\set tbl floor_subscription_alerts
\set obj '(e.payload -> ''properties'' || jsonb_build_object(''event_id'', e.event_id, ''type'', e.type, ''created_at'', e.created_at))'
\set id 'e.event_id'
\set types :subscription_alert_types
\ir rebuild_floor_one.sql

\set tbl floor_customer_credit_alerts
\set types :credit_alert_types
\ir rebuild_floor_one.sql

\timing off
select (select count(*) from :"schema".floor_customers) as customers, (select count(*) from :"schema".floor_subscriptions) as subscriptions,
       (select count(*) from :"schema".floor_invoices) as invoices, (select count(*) from :"schema".floor_plans) as plans;
drop table :"schema".floor_customers, :"schema".floor_subscriptions, :"schema".floor_invoices,
    :"schema".floor_credit_notes, :"schema".floor_plans, :"schema".floor_billable_metrics,
    :"schema".floor_customer_balance_transactions, :"schema".floor_subscription_alerts, :"schema".floor_customer_credit_alerts;
