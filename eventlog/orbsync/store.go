package orbsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// snapshotBatch is objects of one resource read at one time.
type snapshotBatch struct {
	resource string
	origin   string
	readAt   time.Time
	objects  []json.RawMessage
}

// writeCounts says what happened to the objects of a batch. Every object
// lands in exactly one count.
type writeCounts struct {
	Stored     int64 // Appended as a new snapshot.
	Duplicates int64 // The log already held this state as the object's newest event.
	Errors     int64 // No id, or refused by PostgreSQL; logged.
}

func (c *writeCounts) add(o writeCounts) {
	c.Stored += o.Stored
	c.Duplicates += o.Duplicates
	c.Errors += o.Errors
}

// txFunc runs caller writes in a batch's transaction, knowing its counts.
type txFunc func(ctx context.Context, tx pgx.Tx, c writeCounts) error

// writeSnapshots appends a snapshot for each object whose state differs
// from its object's newest event in the log, and runs then (if not nil) in
// the same transaction. An object already stored in this exact state as
// its newest event is counted as a duplicate and costs no row.
func (r *Runner) writeSnapshots(ctx context.Context, b snapshotBatch, then txFunc) (writeCounts, error) {
	var c writeCounts
	ids := make([]string, 0, len(b.objects))
	keep := make([]json.RawMessage, 0, len(b.objects))
	for i, obj := range b.objects {
		id, err := objectID(b.resource, obj)
		if err != nil {
			c.Errors++
			r.cfg.Logger.WarnContext(ctx, "skipping an object the API returned", slog.String("resource", b.resource),
				slog.Int("index", i), slog.String("error", err.Error()))
			continue
		}
		ids = append(ids, id)
		keep = append(keep, obj)
	}
	newest, err := r.newestEvents(ctx, b.resource, ids)
	if err != nil {
		return writeCounts{}, err
	}
	events := make([]eventlog.Event, 0, len(keep))
	for i, obj := range keep {
		content := contentKey(b.resource, obj)
		base := newest[ids[i]]
		if sameState(base, content) {
			c.Duplicates++
			continue
		}
		ev, err := newSnapshot(b.resource, obj, b.readAt, b.origin, content, base)
		if err != nil {
			return writeCounts{}, err // Cannot happen: objectID read the same bytes.
		}
		events = append(events, ev)
	}
	if len(events) == 0 && then == nil {
		return c, nil
	}
	// Read committed, as appending needs, whatever the role's default.
	err = pgx.BeginTxFunc(ctx, r.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		results, err := r.appender.AppendTx(ctx, tx, events)
		var refused *eventlog.BatchError
		if err != nil && !errors.As(err, &refused) {
			return err
		}
		c.add(countResults(results))
		if refused != nil {
			r.cfg.Logger.ErrorContext(ctx, "snapshots refused by the database", slog.String("resource", b.resource),
				slog.String("error", refused.Err.Error()))
		}
		if then != nil {
			return then(ctx, tx, c)
		}
		return nil
	})
	if err != nil {
		return writeCounts{}, fmt.Errorf("storing %d %s snapshots: %w", len(events), b.resource, err)
	}
	return c, nil
}

// countResults tallies append results.
func countResults(results []eventlog.Result) writeCounts {
	var c writeCounts
	for _, res := range results {
		switch {
		case res.Seq > 0:
			c.Stored++
		case res.Duplicate:
			c.Duplicates++
		default:
			c.Errors++
		}
	}
	return c
}

// newestEvents returns the id of the newest event of each object that has
// any, by object id.
func (r *Runner) newestEvents(ctx context.Context, resource string, ids []string) (map[string]string, error) {
	return eventlog.NewestEventIDs(ctx, r.pool, r.cfg.Schema, resource, ids)
}
