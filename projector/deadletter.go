package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// ListDeadLetters returns the dead letters of schema, oldest first; only
// the unresolved ones unless all is set.
func ListDeadLetters(ctx context.Context, db DB, schema string, all bool) ([]DeadLetter, error) {
	rows, err := db.Query(ctx, sqlFor(schema).ListDeadLetters, all)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	return list, nil
}

// OldestDeadLetters returns at most limit unresolved dead letters of schema,
// oldest first, and how many more unresolved ones there are: a bounded
// read for pages, whatever the size of the table.
func OldestDeadLetters(ctx context.Context, db DB, schema string, limit int) (list []DeadLetter, more int64, err error) {
	q := sqlFor(schema)
	rows, err := db.Query(ctx, q.OldestDeadLetters, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("reading dead letters: %w", err)
	}
	if list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter]); err != nil {
		return nil, 0, fmt.Errorf("reading dead letters: %w", err)
	}
	if len(list) == limit {
		if err := db.QueryRow(ctx, q.DeadLettersBeyond, limit).Scan(&more); err != nil {
			return nil, 0, fmt.Errorf("counting dead letters: %w", err)
		}
	}
	return list, more, nil
}

// RetryResult says what RetryDeadLetters did.
type RetryResult struct {
	// Resolved dead letters now apply; their entities were recomputed.
	Resolved []DeadLetter
	// Failed dead letters still fail; Error holds the new message.
	Failed []DeadLetter
}

// RetryDeadLetters retries the unresolved dead letters of projection (all
// projections when empty), once their cause is fixed (a migration widened
// a column, a release fixed a projection). For each, oldest first, it marks
// it resolved and recomputes the entities it is about from the log up to
// the projection's checkpoint; if that still fails, it stays unresolved
// with the new error. Each projection is retried in one transaction that
// holds its checkpoint lock, so it never races the live projector.
func RetryDeadLetters(ctx context.Context, db DB, schema, projection string) (RetryResult, error) {
	var res RetryResult
	for _, p := range fold.Projections() {
		if projection != "" && p.Name != projection {
			continue
		}
		if err := retryProjection(ctx, db, schema, p, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func retryProjection(ctx context.Context, db DB, schema string, p Projection, res *RetryResult) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("retrying %s dead letters: %w", p.Name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	cp, err := LockCheckpoint(ctx, tx, schema, p.Name)
	if errors.Is(err, ErrNoCheckpoint) {
		return nil // Never started here: it has no dead letters.
	}
	if err != nil {
		return err
	}
	t, err := fold.Compile(ctx, tx, schema, p.Name, p.Table)
	if err != nil {
		return err
	}
	if err := fold.PrepareTx(ctx, tx); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, sqlFor(schema).ListUnresolvedDeadLetters, p.Name)
	if err != nil {
		return fmt.Errorf("listing %s dead letters: %w", p.Name, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return fmt.Errorf("listing %s dead letters: %w", p.Name, err)
	}
	for _, dl := range list {
		done, err := t.RetryDeadLetter(ctx, tx, dl, cp.Seq)
		if err != nil {
			return err
		}
		if done.ResolvedAt != nil {
			res.Resolved = append(res.Resolved, done)
		} else {
			res.Failed = append(res.Failed, done)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing %s retries: %w", p.Name, err)
	}
	return nil
}
