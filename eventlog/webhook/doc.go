// Package webhook is the event log's first source: where an Orb webhook
// becomes a row. Receiver is the HTTP handler for POST /webhooks: it bounds
// the body, verifies Orb's signature (Verify), reads the envelope
// (eventlog.ParseEnvelope) and appends the delivery verbatim through
// eventlog.Appender, answering only after the row is committed.
//
// Backpressure may then hold the acknowledgement of a newly stored event
// while the projections lag, so senders that wait for it slow to the
// projector's pace; it learns the lag from outside (projector.LagWatcher
// in serve), never per request.
//
// Sign and the header names are exported for tools and tests that send
// signed deliveries (package webhooktest).
package webhook
