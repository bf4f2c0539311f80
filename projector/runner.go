package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// run is the runner goroutine: wait for a doorbell or the poll timer, then
// (as leader) apply everything up to the head, and refresh the gauges.
func (p *Projector) run(ctx context.Context) {
	defer close(p.runDone)
	p.kick(wakeStart)
	timer := time.NewTimer(jitter(p.cfg.PollInterval))
	defer timer.Stop()
	for {
		select {
		case <-p.stopping:
			return
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
			p.cfg.Metrics.woke(wakePoll)
		}
		timer.Reset(jitter(p.cfg.PollInterval))
		if lctx := p.elector.leading(); lctx != nil {
			if err := p.catchUp(lctx); err != nil {
				p.logFailure(lctx, "catching up", err, slog.Duration("retry_in", p.cfg.PollInterval))
			}
		}
		p.refreshStatus(ctx)
	}
}

// catchUp applies every projection up to the head read at its start, one
// batch per projection in turn so none starves. A projection whose batch
// fails is left for the next wake-up; the others go on.
func (p *Projector) catchUp(ctx context.Context) error {
	head, err := readHead(ctx, p.pool, p.cfg.Schema)
	if err != nil {
		return err
	}
	if err := p.loadCheckpoints(ctx); err != nil {
		return err
	}
	if !p.typesCountedSet {
		// Count only what this process applies, not the history before it.
		p.typesCounted, p.typesCountedSet = p.minCheckpoint(), true
	}
	failed := map[string]error{}
	for progressed := true; progressed; {
		progressed = false
		for _, t := range p.targets {
			if p.isStopping() || ctx.Err() != nil {
				return ctx.Err()
			}
			name := t.projection.Name
			from := p.checkpoints[name]
			if from >= head || failed[name] != nil {
				continue
			}
			to := min(from+int64(p.cfg.BatchSize), head)
			if err := p.applyBatch(ctx, t, from, to); err != nil {
				p.cfg.Metrics.batchFailed(name)
				failed[name] = fmt.Errorf("applying %s (%d, %d]: %w", name, from, to, err)
				continue
			}
			p.checkpoints[name] = to
			progressed = true
		}
	}
	p.countUnknownTypes(ctx)
	var errs []error
	for _, t := range p.targets {
		if err := failed[t.projection.Name]; err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p *Projector) isStopping() bool {
	select {
	case <-p.stopping:
		return true
	default:
		return false
	}
}

// loadCheckpoints rereads the checkpoints: another leader may have moved
// them since this instance last led.
func (p *Projector) loadCheckpoints(ctx context.Context) error {
	cps, err := readCheckpoints(ctx, p.pool, p.cfg.Schema)
	if err != nil {
		return err
	}
	for _, t := range p.targets {
		c, ok := cps[t.projection.Name]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoCheckpoint, t.projection.Name)
		}
		p.checkpoints[t.projection.Name] = c.Seq
	}
	return nil
}

// applyBatch applies (from, to] of one projection and moves its checkpoint
// in the same transaction. The checkpoint row is locked first and must
// still be at from: a second runner, or a dead-letter retry, serializes
// behind it, and a stale runner fails instead of applying twice.
func (p *Projector) applyBatch(ctx context.Context, t *Target, from, to int64) error {
	start := time.Now()
	name := t.projection.Name
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning a batch: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	cp, err := LockCheckpoint(ctx, tx, p.cfg.Schema, name)
	if err != nil {
		return err
	}
	if cp.Seq != from {
		return fmt.Errorf("%w: %s is at %d, expected %d", ErrCheckpointMoved, name, cp.Seq, from)
	}
	// A rebuild may have swapped in a table with other columns: autorebuild.go.
	if t, err = p.refreshTarget(ctx, tx, t); err != nil {
		return err
	}
	res, err := t.Apply(ctx, tx, from, to)
	if err != nil {
		return err
	}
	if err := advanceCheckpoint(ctx, tx, p.cfg.Schema, name, from, to); err != nil {
		return err
	}
	if hook := p.hooks.beforeCommit; hook != nil {
		if err := hook(ctx, tx, name); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing a batch: %w", err)
	}
	p.cfg.Metrics.observeBatch(name, res, time.Since(start))
	p.logBatch(ctx, name, from, to, res, time.Since(start))
	return nil
}

func (p *Projector) logBatch(ctx context.Context, name string, from, to int64, res ApplyResult, took time.Duration) {
	p.logger.DebugContext(ctx, "batch applied", slog.String("projection", name), slog.Int64("from", from), slog.Int64("to", to),
		slog.Int64("events", res.Events), slog.Int64("rows", res.Rows), slog.Int64("recomputed", res.Recomputed), slog.Duration("took", took))
	for _, dl := range res.DeadLetters {
		p.logger.WarnContext(ctx, "event dead-lettered", slog.String("projection", name), slog.Int64("seq", dl.Seq),
			slog.String("event_id", dl.EventID), slog.String("event_type", dl.EventType), slog.String("error", dl.Error))
	}
	for _, f := range res.UnknownFields {
		if key := name + "." + f; !p.fieldsLogged[key] {
			p.fieldsLogged[key] = true
			p.logger.InfoContext(ctx, "payload field has no column; kept in the log only", slog.String("projection", name), slog.String("field", f))
		}
	}
}

// logFailure logs an error unless it comes from stopping or losing the
// lead, which are not failures.
func (p *Projector) logFailure(ctx context.Context, what string, err error, attrs ...any) {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) || p.isStopping() {
		p.logger.DebugContext(ctx, what+" interrupted", slog.String("error", err.Error()))
		return
	}
	level := slog.LevelError
	if errors.Is(err, ErrCheckpointMoved) {
		level = slog.LevelWarn
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	p.logger.Log(ctx, level, what+" failed", attrs...)
}

// countUnknownTypes counts logged events of types nothing reads, once per
// event (within this process), up to the slowest checkpoint.
func (p *Projector) countUnknownTypes(ctx context.Context) {
	if p.cfg.Metrics == nil {
		return
	}
	upTo := p.minCheckpoint()
	if upTo <= p.typesCounted {
		return
	}
	known := make([]string, 0, 128)
	for t := range knownTypes() {
		known = append(known, t)
	}
	rows, err := p.pool.Query(ctx, "select type, count(*) from "+pgx.Identifier{p.cfg.Schema, "events"}.Sanitize()+
		" where seq > $1 and seq <= $2 and type <> all ($3::text[]) group by type", p.typesCounted, upTo, known)
	if err != nil {
		p.logFailure(ctx, "counting unknown event types", err)
		return
	}
	type count struct {
		Type string
		N    int64
	}
	counts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[count])
	if err != nil {
		p.logFailure(ctx, "counting unknown event types", err)
		return
	}
	for _, c := range counts {
		p.cfg.Metrics.unknownType(c.Type, c.N)
	}
	p.typesCounted = upTo
}

func (p *Projector) minCheckpoint() int64 {
	upTo := int64(-1)
	for _, seq := range p.checkpoints {
		if upTo < 0 || seq < upTo {
			upTo = seq
		}
	}
	return max(upTo, 0)
}

// refreshStatus updates the gauges; every instance does, so whichever is
// scraped reports the truth.
func (p *Projector) refreshStatus(ctx context.Context) {
	if p.cfg.Metrics == nil {
		return
	}
	st, err := ReadStatus(ctx, p.pool, p.cfg.Schema)
	if err != nil {
		p.logFailure(ctx, "reading status", err)
		return
	}
	p.cfg.Metrics.observeStatus(st)
}

// jitter spreads d by ±10%, so replicas don't poll in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// sleep waits for d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
