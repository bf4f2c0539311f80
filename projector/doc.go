// Package projector keeps orb-sync's current-state tables (customers,
// subscriptions, invoices, credit_notes, plans, billable_metrics,
// customer_balance_transactions and the alert tables) up to date from the
// event log written by package eventlog. The cmd package runs a Projector in
// `orb-sync serve`, reads Status for `orb-sync status` and calls
// RetryDeadLetters, and rebuilds and verifies tables with a Rebuilder and
// Verify. How a table is folded (catalog, generated SQL, Target) is in
// projector/internal/fold.
//
// The projector owns projection_checkpoints and dead_letters: its progress
// through the log and the events it set aside. Only it writes them (the
// live runner, a rebuild's swap, a dead-letter retry); others only read them,
// mostly through ReadStatus and ListDeadLetters. Its static SQL is in
// sql/queries/projector/, the fold's in sql/queries/projector/internal/fold/.
//
// # The rule
//
// Each table is declared once, as data (Projection, Source in
// internal/fold/catalog.go): which event types feed it, where the object
// sits in the payload, what shape it has. The SQL is generated from that
// declaration (internal/fold/sqlgen.go), and
// the same statement serves live batches, late-event recomputes and
// rebuilds, so all three give the same rows.
//
// An event's order key is (Orb created_at, log position). A row is its
// entity's events folded in that order: start from the newest full object,
// then merge the top-level keys of later partial objects:
//
//	row = jsonb_populate_record(base, full || partial₁ || partial₂ …)
//
// jsonb_populate_record maps Orb's keys to same-named columns with their
// casts ("25.00" → numeric, ISO strings → timestamptz) and keeps base's
// value for keys that are absent. base is NULL when the fold starts with a
// full object, else the stored row. Shapes (FACTS.md §2.2–2.3):
//
//   - Full: the API object (webhooks carrying it, snapshot.<resource>).
//   - Summary: full when it has FullKey (invoices: line_items,
//     subscriptions: price_intervals, embedded plans: prices), else partial;
//     a summary subscription never merges its customer or plan.
//   - Partial with an allowlist: invoice.invoice_date_elapsed (status,
//     number, customer, subscription), the flat invoice of
//     invoice.automation_schedule_step_executed, plan.* minimal plans
//     (name, external_plan_id).
//   - Not read: invoice.cost_data_exported (a bare id), lightweight
//     subscriptions of alert/threshold/license events (they feed only the
//     alert tables), objects without an id (billable_metric.edited as seen
//     in the wild), unknown types (counted in metrics).
//
// Columns are read from the table when a Target is compiled, skipping
// generated ones, so a migration adding a column named after an Orb field
// is filled by the next rebuild with no code change. Payload fields with no
// column stay in the log and are counted.
//
// # A batch
//
// A batch is the log positions (from, to] of one projection. Per entity it
// writes once: if every batch event is newer than the row's provenance
// (last_event_at, last_event_seq), the batch's fold window is merged onto
// the row; if one is older (a late delivery), the entity is recomputed from
// its whole history, found by index. Hence applying (a, b] then (b, c]
// equals applying (a, c], and delivery order never changes a table.
//
// A value the table refuses (SQLSTATE 22/23/54) fails the statement; the
// batch is bisected under savepoints until the poison events stand alone,
// and they go to dead_letters. Unresolved dead letters are left out of
// every fold, live or rebuild. RetryDeadLetters resolves them and
// recomputes their entities once the cause is fixed.
//
// # Running
//
//	             NOTIFY <schema>_events (empty payload)
//	appender ──────────────────────────┐
//	                                    ▼
//	listener conn ── LISTEN ──► doorbell (chan, capacity 1) ◄── poll timer (±10%)
//	                                    │
//	                                    ▼
//	runner: if leader { head := log_head; round by round until caught up:
//	            BEGIN
//	            for each lagging projection, under a savepoint:
//	              lock its checkpoint row (must equal from); Apply(from, to];
//	              UPDATE checkpoint SET seq = to WHERE seq = from
//	            COMMIT }                   (to = min(from + BatchSize, head))
//	        refresh gauges
//
//	lock conn ── pg_try_advisory_lock(ns, hash(schema)) every ElectInterval
//	             held ⇒ leader; conn waits in WaitForNotification, so a
//	             killed session ends the lead at once and cancels the batch
//
// Notifications are only a hint: the log is the truth. On every (re)connect
// the listener LISTENs first and then rings, so the catch-up that follows
// sees everything committed before the LISTEN. A lost NOTIFY costs at most
// PollInterval. The checkpoint moves in the batch's transaction with a
// compare-and-set, so a crash at any point neither loses nor repeats work,
// and a runner that lost the lead without noticing fails instead of
// applying twice. Only the leader applies; the others retry the lock every
// ElectInterval and take over within about that long.
//
// LagWatcher reads the log head and the slowest checkpoint every 250 ms,
// and after each round when Config.AfterRoundFunc nudges it, for the
// webhook receiver's back-pressure. It reads the table, not a runner's
// memory, so it serves ingest-only replicas too; a projector counts as
// advancing while the slowest checkpoint moved within its window.
//
// # Re-projection
//
// To rebuild a table with zero downtime: create the shadow table LIKE the
// live one (INCLUDING ALL), compile a fold.Target for it, read H = log head and
// Apply (0, H] into it (in one or several transactions); then, in the swap
// transaction, LockCheckpoint (this pauses the live projector for that
// projection) to get C, Apply (H, max(C, H)] to the shadow, rename the
// tables, and SetCheckpoint(max(C, H), Version). The live projector picks
// up from there; its statements name the table, so they follow the rename.
//
// Rebuilder (rebuild.go, shadow.go, swap.go) does exactly this for any
// table, one rebuild per table at a time; the live projector compiles a
// table again when a swap replaced it, and rebuilds tables built by another
// Version on start (autorebuild.go). Verify (verify.go) folds the log into
// a scratch table and compares it with the live one, in one snapshot.
package projector
