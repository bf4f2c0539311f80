package eventlog

import (
	"context"
	"fmt"
	"maps"

	"github.com/jackc/pgx/v5"
)

// AppendTx appends events inside the caller's transaction, so that other
// writes (a backfill cursor, a worker's checkpoint) commit atomically with
// them: either both are durable or neither is.
//
// It locks the log head until tx ends, exactly like AppendBatch, so
// positions stay gapless and commit-ordered; keep the rest of tx short.
// tx must be READ COMMITTED (begin it with pgx.TxOptions{IsoLevel:
// pgx.ReadCommitted}, so no role or database default can change it).
// Results are in the order of events, with duplicates marked as in
// AppendBatch. An event PostgreSQL refuses as data is left out (its Result
// has Seq 0 and Duplicate false) and reported in a *BatchError whose
// Results are valid; tx is still usable in that case. Any other error
// leaves tx aborted: roll it back.
func (a *Appender) AppendTx(ctx context.Context, tx pgx.Tx, events []Event) ([]Result, error) {
	if len(events) == 0 {
		return nil, nil
	}
	var isolation string
	if err := tx.QueryRow(ctx, a.queries.LockHeadTx).Scan(&isolation); err != nil {
		return nil, classify(fmt.Errorf("locking log head: %w", err))
	}
	if isolation != "read committed" {
		// Under a stricter level, an append contended by another would
		// fail with a serialization error (and the insert's snapshot
		// could miss earlier appends): begin tx with pgx.ReadCommitted.
		return nil, fmt.Errorf("appending in a %s transaction: the log needs read committed", isolation)
	}
	seqs, err := a.insertSavepoint(ctx, tx, events)
	if err == nil {
		return a.finishTx(ctx, tx, events, seqs, nil, nil)
	}
	if !IsDataError(err) {
		return nil, classify(err)
	}
	// Isolate the refused event(s), each under its own savepoint; the head
	// lock, taken before any savepoint, is kept throughout.
	seqs = map[string]int64{}
	refused := map[int]bool{}
	var firstErr error
	for i := range events {
		one, err := a.insertSavepoint(ctx, tx, events[i:i+1])
		if err != nil {
			if !IsDataError(err) {
				return nil, classify(err)
			}
			refused[i] = true
			if firstErr == nil {
				firstErr = classify(err)
			}
			continue
		}
		maps.Copy(seqs, one)
	}
	return a.finishTx(ctx, tx, events, seqs, refused, firstErr)
}

// insertSavepoint inserts events under a savepoint, rolling back to it on
// failure so tx stays usable.
func (a *Appender) insertSavepoint(ctx context.Context, tx pgx.Tx, events []Event) (map[string]int64, error) {
	if _, err := tx.Exec(ctx, "savepoint eventlog_append"); err != nil {
		return nil, fmt.Errorf("setting savepoint: %w", err)
	}
	seqs, err := a.insertRows(ctx, tx, events)
	if err != nil {
		if _, rbErr := tx.Exec(ctx, "rollback to savepoint eventlog_append"); rbErr != nil {
			return nil, fmt.Errorf("rolling back to savepoint after %w: %w", err, rbErr)
		}
		return nil, fmt.Errorf("appending %d events: %w", len(events), err)
	}
	if _, err := tx.Exec(ctx, "release savepoint eventlog_append"); err != nil {
		return nil, fmt.Errorf("releasing savepoint: %w", err)
	}
	return seqs, nil
}

// insertRows runs the append statement (which also moves the head) and
// returns the new positions by id. Here the head is locked already, so the
// bodies are parsed under the lock: this path (backfill, repair) is not
// the webhooks' ack path.
func (a *Appender) insertRows(ctx context.Context, tx pgx.Tx, events []Event) (map[string]int64, error) {
	cols, _, err := newAppendColumns(events)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, a.queries.Append, cols.args()...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seqs := make(map[string]int64)
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			return nil, err
		}
		seqs[id] = seq
	}
	return seqs, rows.Err()
}

// finishTx rings the doorbell (delivered at commit) and builds the
// results; refused holds the indexes of events left out, refusedErr why.
func (a *Appender) finishTx(ctx context.Context, tx pgx.Tx, events []Event, seqs map[string]int64, refused map[int]bool, refusedErr error) ([]Result, error) {
	if _, err := tx.Exec(ctx, a.queries.Notify); err != nil {
		return nil, classify(fmt.Errorf("notifying: %w", err))
	}
	firstIndex := firstIndexes(events)
	results := make([]Result, len(events))
	for i, ev := range events {
		seq, ok := seqs[ev.ID]
		switch {
		case refused[i]:
			// Left out: Seq 0, Duplicate false.
		case ok && firstIndex[i] == i:
			results[i] = Result{Seq: seq}
		default:
			results[i] = Result{Duplicate: true}
		}
	}
	if refusedErr != nil {
		return results, &BatchError{Results: results, Err: refusedErr}
	}
	return results, nil
}
