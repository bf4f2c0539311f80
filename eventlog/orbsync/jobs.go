package orbsync

import (
	"context"
	"log/slog"
	"time"
)

// Job names, as in sync_checkpoints.job and the metrics' job label.
const (
	JobReconcile = "reconcile"
	JobRepair    = "repair"
	JobRefetch   = "refetch"
)

const (
	// repairOverlap widens each repair pass back over the end of the last
	// one, for events Orb stamped slightly before our clock said.
	repairOverlap = time.Hour
	// dueSlack lets a pass run a little before its interval is up, so that
	// timer jitter never makes a job skip a whole turn.
	dueSlack = 0.9
)

// NewReconciler returns a Worker that runs Reconcile every interval. The
// first pass runs one interval after the last complete one, by any
// replica, or at once if there was none.
func (r *Runner) NewReconciler(interval time.Duration) *Worker {
	return r.newWorker(JobReconcile, interval, r.firstDue(JobReconcile, interval), func(ctx context.Context) error {
		return r.duePass(ctx, JobReconcile, interval, func(ctx context.Context, _ checkpoint) error {
			rep, err := r.Reconcile(ctx)
			r.cfg.Logger.InfoContext(ctx, "reconcile pass", slog.Any("entities", rep.Entities), slog.Int("missing", rep.Missing),
				slog.Int("stale_subscriptions", rep.StaleSubscriptions), slog.Duration("elapsed", rep.Elapsed))
			return err
		})
	})
}

// RepairSchedule configures the periodic repair.
type RepairSchedule struct {
	// Interval between passes. Required.
	Interval time.Duration
	// Lookback is the least a pass reads back; after a long stop, a pass
	// reads back to the end of the last complete one instead.
	Lookback time.Duration
	// UndeliveredOnly reads only events Orb failed to deliver.
	UndeliveredOnly bool
}

// NewRepairer returns a Worker that runs Repair on a schedule.
func (r *Runner) NewRepairer(s RepairSchedule) *Worker {
	return r.newWorker(JobRepair, s.Interval, r.firstDue(JobRepair, s.Interval), func(ctx context.Context) error {
		return r.duePass(ctx, JobRepair, s.Interval, func(ctx context.Context, cp checkpoint) error {
			since := r.cfg.Now().Add(-s.Lookback)
			if cp.passedFrom != nil && cp.passedFrom.Add(-repairOverlap).Before(since) {
				since = cp.passedFrom.Add(-repairOverlap)
			}
			rep, err := r.Repair(ctx, RepairOptions{Since: since, UndeliveredOnly: s.UndeliveredOnly})
			level := slog.LevelDebug
			if rep.Recovered > 0 || rep.Errors > 0 {
				level = slog.LevelWarn // Webhooks were lost and are now back.
			}
			r.cfg.Logger.Log(ctx, level, "repair pass", slog.Time("since", since), slog.Int64("listed", rep.Listed),
				slog.Int64("recovered", rep.Recovered), slog.Int64("present", rep.Present), slog.Int64("errors", rep.Errors))
			return err
		})
	})
}

// NewRefetcher returns a Worker that follows the log every poll interval
// and refetches what untrustworthy payloads point at (see planRefetches).
// Its first start begins at the current end of the log: history is not
// replayed, since a backfill or reconcile covers it.
func (r *Runner) NewRefetcher(poll time.Duration) *Worker {
	setup := func(ctx context.Context) (time.Duration, error) {
		cp, err := r.loadCheckpoint(ctx, JobRefetch)
		if err != nil || cp.seq != nil {
			return 0, err
		}
		head, err := r.logHead(ctx)
		if err != nil {
			return 0, err
		}
		return 0, r.saveSeq(ctx, JobRefetch, head)
	}
	return r.newWorker(JobRefetch, poll, setup, r.RefetchUntilCaughtUp)
}

// RefetchUntilCaughtUp runs refetch passes from the stored position until
// the end of the log, saving the position after each.
func (r *Runner) RefetchUntilCaughtUp(ctx context.Context) error {
	for {
		cp, err := r.loadCheckpoint(ctx, JobRefetch)
		if err != nil {
			return err
		}
		var from int64
		if cp.seq != nil {
			from = *cp.seq
		}
		next, n, err := r.refetchPass(ctx, from, refetchBatchDefault)
		if err != nil {
			return err
		}
		if next == from {
			return nil
		}
		if err := r.saveSeq(ctx, JobRefetch, next); err != nil {
			return err
		}
		if n > 0 {
			r.cfg.Logger.InfoContext(ctx, "refetched objects", slog.Int("objects", n), slog.Int64("log_position", next))
		}
	}
}

// firstDue returns a setup that waits until one interval after the last
// complete pass of job.
func (r *Runner) firstDue(job string, interval time.Duration) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		cp, err := r.loadCheckpoint(ctx, job)
		if err != nil || cp.passedFrom == nil {
			return 0, err
		}
		return max(cp.passedFrom.Add(interval).Sub(r.cfg.Now()), 0), nil
	}
}

// duePass runs pass unless the last complete pass (by any replica) started
// less than an interval ago, and records the start of a pass that succeeds.
func (r *Runner) duePass(ctx context.Context, job string, interval time.Duration, pass func(context.Context, checkpoint) error) error {
	cp, err := r.loadCheckpoint(ctx, job)
	if err != nil {
		return err
	}
	start := r.cfg.Now()
	if cp.passedFrom != nil && start.Sub(*cp.passedFrom) < time.Duration(dueSlack*float64(interval)) {
		return nil
	}
	if err := pass(ctx, cp); err != nil {
		return err
	}
	return r.savePass(ctx, job, start)
}
