// Package eventlog writes orb-sync's event log: the append-only table
// <schema>.events that holds every Orb webhook byte for byte.
//
// The write path is:
//
//	POST /webhooks ─► Receiver: size limit, signature (Verify), envelope (ParseEnvelope)
//	                     │
//	                     ▼
//	                  Appender: queues the event; one writer goroutine commits
//	                  queued events together (group commit) and answers each
//	                  caller only after its row is durable.
//
// Positions (seq) are assigned under a row lock on <schema>.log_head, so they
// are gapless and become visible in commit order: a reader that has seen
// position P has seen every position below it, and "everything after P" is a
// plain range scan. Deduplication is on Orb's envelope id; a duplicate is
// acknowledged without storing anything.
//
// Writers that must commit their own state with the events they append (the
// backfill's cursor, a worker's checkpoint) use Appender.AppendTx, which runs
// the same statements inside the caller's transaction.
//
// Readers live in package projector; this package only writes.
package eventlog
