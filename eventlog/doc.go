// Package eventlog is orb-sync's event log: the append-only table
// <schema>.events that holds every Orb event byte for byte, and the tables
// that describe its state (log_head). Sources append to it (package webhook
// for deliveries, package orbsync for what Orb's REST API answers); readers
// (package projector) fold it into tables. This package imports neither.
//
// The write path is:
//
//	source (webhook.Receiver, orbsync jobs) ─► envelope (ParseEnvelope)
//	                     │
//	                     ▼
//	                  Appender: queues the event; a writer goroutine commits
//	                  queued events together (group commit) and answers each
//	                  caller only after its row is durable.
//
// Every source hands the log an envelope ParseEnvelope can read (id, type,
// created_at, the object the event is about), so the envelope is part of the
// log's contract rather than of the webhook source.
//
// Positions (seq) are assigned under a row lock on <schema>.log_head, so they
// are gapless and become visible in commit order: a reader that has seen
// position P has seen every position below it, and "everything after P" is a
// plain range scan. Deduplication is on Orb's envelope id; a duplicate is
// acknowledged without storing anything. One statement does the append, the
// function <schema>.append_events (migration 014): it parses the bodies into
// jsonb first, then locks the head, so with several writers
// (AppenderConfig.Writers) one batch is parsed while another holds the head.
//
// Writers that must commit their own state with the events they append (the
// backfill's cursor, a worker's checkpoint) use Appender.AppendTx, which runs
// the same statements inside the caller's transaction.
//
// The log also answers the reads its sources and readers share (read.go),
// over one small interface, DB (a pool, a connection or a transaction):
// the head (Head), what lies after a position (TypesAfter,
// CountTypesAfter), an object's newest event (NewestEventIDs, by resource)
// and an event's exact bytes (Body). Reads particular to one reader (the
// projector's fold, the refetch worker's scan) stay with that reader.
//
// The log owns events and log_head. What a reader keeps about its progress
// through the log is the reader's: the projector's checkpoints and dead
// letters (package projector), the Orb API jobs' checkpoints and backfill
// progress (package orbsync). Every statement is a named file under
// sql/queries/<package path>/ (see package sql).
package eventlog
