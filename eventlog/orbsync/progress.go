package orbsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Progress is one entity's row of backfill_progress: how far its backfill
// got. Counts add up over every run since the backfill (re)started.
type Progress struct {
	Entity string `db:"entity" json:"entity"`
	// Since is the lower bound of what the listings cover; nil for
	// everything.
	Since *time.Time `db:"since" json:"since,omitempty"`
	// ListFrom, when set, is the lower bound of this listing: a run that
	// continues a complete one lists only what was created since.
	ListFrom *time.Time `db:"list_from" json:"list_from,omitempty"`
	// Cursor fetches the next page; empty at the start and once done.
	Cursor     string     `db:"cursor" json:"-"`
	Pages      int64      `db:"pages" json:"pages"`
	Fetched    int64      `db:"fetched" json:"fetched"`
	Stored     int64      `db:"stored" json:"stored"`
	Duplicates int64      `db:"duplicates" json:"duplicates"`
	Errors     int64      `db:"errors" json:"errors"`
	Done       bool       `db:"done" json:"done"`
	LastError  *string    `db:"last_error" json:"last_error,omitempty"`
	StartedAt  time.Time  `db:"started_at" json:"started_at"`
	UpdatedAt  time.Time  `db:"updated_at" json:"updated_at"`
	FinishedAt *time.Time `db:"finished_at" json:"finished_at,omitempty"`
}

// errProgressMoved means another backfill of the same entity advanced the
// stored progress while this one ran.
var errProgressMoved = errors.New("stored progress moved under this backfill (is another backfill running?)")

// ListProgress returns every entity's stored progress, by name.
func (r *Runner) ListProgress(ctx context.Context) ([]Progress, error) {
	rows, err := r.pool.Query(ctx, r.q.ListProgress)
	if err != nil {
		return nil, fmt.Errorf("reading backfill progress: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Progress])
	if err != nil {
		return nil, fmt.Errorf("reading backfill progress: %w", err)
	}
	return out, nil
}

// loadProgress returns an entity's stored progress, if any.
func (r *Runner) loadProgress(ctx context.Context, entity string) (Progress, bool, error) {
	rows, err := r.pool.Query(ctx, r.q.LoadProgress, entity)
	if err != nil {
		return Progress{}, false, fmt.Errorf("reading %s progress: %w", entity, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Progress])
	if errors.Is(err, pgx.ErrNoRows) {
		return Progress{}, false, nil
	}
	if err != nil {
		return Progress{}, false, fmt.Errorf("reading %s progress: %w", entity, err)
	}
	return p, true, nil
}

// resetProgress starts an entity's backfill over, from the first page,
// covering since and listing from listFrom (zero: from since).
func (r *Runner) resetProgress(ctx context.Context, entity string, since, listFrom time.Time) (Progress, error) {
	rows, err := r.pool.Query(ctx, r.q.ResetProgress, entity, nullTime(since), nullTime(listFrom))
	if err != nil {
		return Progress{}, fmt.Errorf("resetting %s progress: %w", entity, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Progress])
	if err != nil {
		return Progress{}, fmt.Errorf("resetting %s progress: %w", entity, err)
	}
	return p, nil
}

// advance records a stored page in tx: the cursor of the next page, the
// page's counts, and whether the listing is complete. p is updated to match.
func (r *Runner) advance(ctx context.Context, tx pgx.Tx, p *Progress, next string, done bool, fetched int64, c writeCounts) error {
	tag, err := tx.Exec(ctx, r.q.AdvanceProgress, p.Entity, p.Pages, next, fetched, c.Stored, c.Duplicates, c.Errors, done)
	if err != nil {
		return fmt.Errorf("saving %s progress: %w", p.Entity, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("saving %s progress: %w", p.Entity, errProgressMoved)
	}
	p.Cursor, p.Done, p.LastError = next, done, nil
	p.Pages++
	p.Fetched += fetched
	p.Stored += c.Stored
	p.Duplicates += c.Duplicates
	p.Errors += c.Errors
	return nil
}

// recordFailure stores why an entity's backfill stopped, for status pages.
// It runs even when ctx was cancelled.
func (r *Runner) recordFailure(ctx context.Context, entity string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.pool.Exec(ctx, r.q.FailProgress, entity, cause.Error()); err != nil {
		r.cfg.Logger.WarnContext(ctx, "could not record backfill failure", "entity", entity, "error", err.Error())
	}
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
