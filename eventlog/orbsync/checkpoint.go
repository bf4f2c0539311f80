package orbsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// checkpoint is a periodic job's row of sync_checkpoints.
type checkpoint struct {
	seq        *int64     // The refetch worker's log position.
	passedFrom *time.Time // Start of the last complete reconcile or repair pass.
}

func (r *Runner) loadCheckpoint(ctx context.Context, job string) (checkpoint, error) {
	var c checkpoint
	err := r.pool.QueryRow(ctx, r.q.LoadCheckpoint, job).Scan(&c.seq, &c.passedFrom)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return checkpoint{}, fmt.Errorf("reading the %s checkpoint: %w", job, err)
	}
	return c, nil
}

func (r *Runner) saveSeq(ctx context.Context, job string, seq int64) error {
	if _, err := r.pool.Exec(ctx, r.q.SaveSeq, job, seq); err != nil {
		return fmt.Errorf("saving the %s checkpoint: %w", job, err)
	}
	return nil
}

func (r *Runner) savePass(ctx context.Context, job string, startedAt time.Time) error {
	if _, err := r.pool.Exec(ctx, r.q.SavePass, job, startedAt); err != nil {
		return fmt.Errorf("saving the %s checkpoint: %w", job, err)
	}
	return nil
}

// logHead returns the position of the newest event in the log.
func (r *Runner) logHead(ctx context.Context) (int64, error) {
	return eventlog.Head(ctx, r.pool, r.cfg.Schema)
}
