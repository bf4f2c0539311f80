// Package orbsync is the event log's second source: it reads Orb's REST API
// (through package orbapi) into the log, so that projections, rebuilds and
// audits see one history: what webhooks said and what the API answered. It
// appends through package eventlog and reads the log only to decide what to
// fetch; it never imports a reader (package projector).
//
// Webhooks miss three things, and each job here covers one:
//
//	what happened before we listened   Backfill: list every entity once
//	objects without (useful) webhooks  Reconcile: list them periodically;
//	                                   mark customers that vanished
//	deliveries lost in an outage       Repair: GET /webhook_events
//
// plus payloads that cannot be trusted as current state, which the
// Refetcher reads again (a customer after a balance transaction, an invoice
// sent without line items, a plan sent as {id, name}, …).
//
// # Snapshots
//
// Every object read is appended as an event of type "snapshot.<resource>",
// source "snapshot", shaped like a webhook:
//
//	{"id": "snap_<content key>_<base>", "type": "snapshot.customer",
//	 "created_at": <read time>, "customer": <the object as received>,
//	 "properties": {"origin": "backfill" | "reconcile" | "refetch"}}
//
// created_at, the projections' order key, is the time the request was sent,
// so a snapshot orders after every webhook created before it was read and
// before every later one. The id is derived from the object's bytes and
// from the object's newest event in the log: reading an unchanged object
// again stores nothing (counted as a duplicate), while a state that comes
// back (balance 10 → 20 → 10) is stored again. See snapshotID.
//
// # Resumable backfill
//
// backfill_progress holds, per entity, the cursor of the next page and the
// counts so far. Both are written in the transaction that appends the
// page's snapshots (eventlog.Appender.AppendTx), so a backfill killed at
// any point resumes after the last page it stored: nothing is lost, nothing
// read twice. A complete entity is skipped until Options.Restart. One
// backfill runs per schema at a time (an advisory lock).
//
// # Periodic jobs
//
// serve runs Reconcile, Repair and the Refetcher as Workers. Each pass
// holds the job's advisory lock, so replicas take turns, and records its
// progress in sync_checkpoints: the refetch log position, or the start of
// the last complete reconcile or repair pass. Everything a pass appends is
// deduplicated, so a pass repeated after a crash costs requests, not rows.
package orbsync
