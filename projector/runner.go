package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// run is the runner goroutine: wait for a doorbell or the poll timer, then
// (as leader) apply everything up to the head. The cost follows the events,
// not the doorbell: rings that come while a round runs, or before the pacer
// says the next round is due (pacer.go: rounds sized by the backlog, at
// most RoundIntervalMax apart), fold into the next round. Gauges are read
// at scrape time (Metrics), not here.
func (p *Projector) run(ctx context.Context) {
	defer close(p.runDone)
	p.kick(wakeStart)
	timer := time.NewTimer(sleep.Jitter(p.cfg.PollInterval))
	defer timer.Stop()
	pace := newPacer(p.cfg)
	var term context.Context // the lead the last round ran under
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
		timer.Reset(sleep.Jitter(p.cfg.PollInterval))
		lctx := p.elector.leading()
		if lctx != nil && lctx != term {
			// A new lead starts without the last one's backoff: what failed
			// then was most likely the lost session itself. Kept, it doubled
			// with every session an operator or failover cut, up to 30 s,
			// and a lead cut every few seconds never ran a round again.
			term = lctx
			p.runnerBackoff.succeeded()
			p.pausedWritten = false // Another instance may have led with other settings.
		}
		if lctx == nil || !p.waitForRound(lctx, pace.due()) {
			continue
		}
		start := time.Now()
		err := p.catchUp(lctx)
		pace.began(start, p.head)
		var some *batchFailures
		switch {
		case errors.As(err, &some):
			p.runnerBackoff.succeeded()
			p.logFailure(lctx, "applying batches", err)
		case err != nil:
			p.runnerBackoff.failed(start, p.cfg.PollInterval)
			p.logFailure(lctx, "catching up", err, slog.Duration("retry_in", p.runnerBackoff.delay))
		default:
			p.runnerBackoff.succeeded()
		}
	}
}

// waitForRound holds the next round until due (the pacer's) and any
// failure backoff is over; rings meanwhile are absorbed. It reports false
// when the wait was cut short by stopping or losing the lead.
func (p *Projector) waitForRound(ctx context.Context, due time.Time) bool {
	if at := p.runnerBackoff.at; at.After(due) {
		due = at
	}
	if wait := time.Until(due); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-p.stopping:
			return false
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	select { // This round reads what those rings announced.
	case <-p.wake:
	default:
	}
	return true
}

// backoff spaces retries of something that failed: from the first delay,
// doubling up to backoffMax; zero while it succeeds.
type backoff struct {
	at    time.Time
	delay time.Duration
}

const backoffMax = 30 * time.Second

func (b *backoff) failed(now time.Time, first time.Duration) {
	b.delay = min(max(2*b.delay, first), backoffMax)
	b.at = now.Add(sleep.Jitter(b.delay))
}

func (b *backoff) succeeded() { *b = backoff{} }

// ready reports whether a retry is due.
func (b backoff) ready(now time.Time) bool { return !now.Before(b.at) }

// catchUp applies every projection up to the head read at its start, in
// rounds (it fails as a whole only when a round's transaction does): each round moves every projection that is behind by up to its
// batch size, in one transaction. A projection whose batch fails is left
// alone until its own backoff is over (the others go on); one whose batch
// hit the statement timeout, or whose round failed as a whole, is retried
// with half the batch, down to one event, and keeps the smaller size until
// it has caught up.
func (p *Projector) catchUp(ctx context.Context) error {
	head, err := readHead(ctx, p.pool, p.cfg.Schema)
	if err != nil {
		return err
	}
	p.head = head
	if err := p.loadCheckpoints(ctx); err != nil {
		return err
	}
	if !p.pausedWritten {
		if err := p.writePaused(ctx); err != nil {
			return err
		}
	}
	if !p.typesCountedSet {
		// Count only what this process applies, not the history before it.
		p.typesCounted, p.typesCountedSet = p.minCheckpoint(), true
	}
	failed := map[string]error{}
	for {
		if p.isStopping() || ctx.Err() != nil {
			return ctx.Err()
		}
		round := p.nextRound(head, failed)
		if len(round) == 0 {
			break
		}
		if err := p.applyRound(ctx, round); err != nil {
			for _, st := range round {
				name := st.target.Projection().Name
				p.cfg.Metrics.batchFailed(name)
				// The round did not commit (its session cut, the lead lost):
				// retried whole, a round that takes longer than a lead lasts
				// would never commit, and the backlog it covers only grows.
				// Half of it may commit; the size comes back once caught up.
				if n := st.to - st.from; n > 1 {
					p.shrunk[name] = int(n / 2)
				}
			}
			return err
		}
		for _, st := range round {
			p.settleStep(st, head, failed)
		}
		if p.cfg.AfterRoundFunc != nil {
			p.cfg.AfterRoundFunc()
		}
	}
	p.countUnknownTypes(ctx)
	var errs []error
	for _, t := range p.targets {
		if err := failed[t.Projection().Name]; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &batchFailures{errors.Join(errs...)}
	}
	return nil
}

// batchFailures reports projections whose batches failed while the others
// went on; each is retried on its own backoff.
type batchFailures struct{ err error }

func (e *batchFailures) Error() string { return e.err.Error() }
func (e *batchFailures) Unwrap() error { return e.err }

// nextRound lists the batch of every projection that is behind head, has
// not failed in this catch-up, and is not waiting out a backoff.
func (p *Projector) nextRound(head int64, failed map[string]error) []step {
	now := time.Now()
	var round []step
	for _, t := range p.targets {
		name := t.Projection().Name
		from := p.checkpoints[name]
		if from >= head || failed[name] != nil || !p.retries[name].ready(now) {
			continue
		}
		round = append(round, step{target: t, from: from, to: min(from+int64(p.batchLimit(name)), head)})
	}
	return round
}

// batchLimit is the most positions name's next batch may take.
func (p *Projector) batchLimit(name string) int {
	if n, ok := p.shrunk[name]; ok {
		return n
	}
	return p.cfg.BatchSize
}

// settleStep records a step's outcome after its round committed.
func (p *Projector) settleStep(st step, head int64, failed map[string]error) {
	name := st.target.Projection().Name
	switch {
	case st.err == nil:
		p.checkpoints[name] = st.to
		p.retries[name] = backoff{}
		if st.to >= head {
			delete(p.shrunk, name) // Caught up: the next backlog starts at full size.
		}
	case isStatementTimeout(st.err) && st.to-st.from > 1:
		// Too big to finish within statement_timeout: the same range would
		// fail forever. Half of it may not.
		p.shrunk[name] = int(max((st.to-st.from)/2, 1))
		p.cfg.Metrics.batchFailed(name)
		p.logger.Warn("batch hit the statement timeout; retrying with a smaller batch",
			slog.String("projection", name), slog.Int64("from", st.from), slog.Int64("to", st.to), slog.Int("next_batch", p.shrunk[name]))
	default:
		p.cfg.Metrics.batchFailed(name)
		failed[name] = fmt.Errorf("applying %s (%d, %d]: %w", name, st.from, st.to, st.err)
		if !errors.Is(st.err, ErrCheckpointMoved) {
			r := p.retries[name]
			r.failed(time.Now(), p.cfg.PollInterval)
			p.retries[name] = r
		}
	}
}

// isStatementTimeout reports PostgreSQL cancelling a statement that ran
// past statement_timeout (not one this process cancelled).
func isStatementTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "57014" && strings.Contains(pgErr.Message, "statement timeout")
}

// step is one projection's batch within a round.
type step struct {
	target   *fold.Target
	from, to int64
	// Filled in by applyRound.
	res  fold.ApplyResult
	took time.Duration
	err  error
}

// applyRound applies each step's (from, to] and moves its checkpoint, all
// in one transaction (one commit for the round), each step under its own
// savepoint so one projection's failure leaves the others' work in. A
// step's checkpoint row is locked first and must still be at from: a
// second runner, or a dead-letter retry, serializes behind it, and a stale
// runner fails instead of applying twice. Projections that no event in the
// round's range feeds only move their checkpoints, all in one statement.
// It returns an error when the transaction itself fails; then nothing was
// applied.
func (p *Projector) applyRound(ctx context.Context, round []step) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning a round: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fold.PrepareRound(ctx, tx, roundPositions(round)); err != nil {
		return err
	}
	present, err := p.typesIn(ctx, tx, round)
	if err != nil {
		return err
	}
	var names []string
	var unfed []*step
	for i := range round {
		st := &round[i]
		names = append(names, st.target.Projection().Name)
		if !slices.ContainsFunc(st.target.Projection().Types(), func(t string) bool { return present[t] }) {
			unfed = append(unfed, st)
			continue
		}
		start := time.Now()
		st.res, st.err = p.applyStep(ctx, tx, st)
		st.took = time.Since(start)
		if st.err != nil && !isStepError(st.err) {
			return st.err // The transaction is unusable.
		}
	}
	if err := advanceCheckpoints(ctx, tx, p.cfg.Schema, unfed); err != nil {
		return err
	}
	if hook := p.hooks.beforeCommit; hook != nil {
		if err := hook(ctx, tx, names); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing a round: %w", err)
	}
	for _, st := range round {
		if st.err == nil {
			p.cfg.Metrics.observeBatch(st.target.Projection().Name, st.res, st.took)
			p.logBatch(ctx, st.target.Projection().Name, st.from, st.to, st.res, st.took)
		}
	}
	return nil
}

// roundPositions is the most positions any step of round covers.
func roundPositions(round []step) int64 {
	var n int64
	for _, st := range round {
		n = max(n, st.to-st.from)
	}
	return n
}

// applyStep runs one projection's batch under a savepoint of tx, in three
// kinds of round trip: the savepoint, the checkpoint's lock and the table's
// oid in one; the fold (bisecting a poison event under savepoints of its
// own, which need the lock to outlast them); then the sample of unknown
// fields, the checkpoint's compare-and-set and the savepoint's release in
// one. A pipeline stops at its first error, and the step's savepoint is
// rolled back.
func (p *Projector) applyStep(ctx context.Context, tx pgx.Tx, st *step) (fold.ApplyResult, error) {
	name := st.target.Projection().Name
	var cp Checkpoint
	var oid uint32
	b := &pgx.Batch{}
	b.Queue(stepSavepoint)
	queueLockCheckpoint(b, p.cfg.Schema, name, &cp)
	st.target.QueueTableOID(b, &oid)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fold.ApplyResult{}, p.rollbackStep(ctx, tx, err)
	}
	if cp.Seq != st.from {
		return fold.ApplyResult{}, p.rollbackStep(ctx, tx, fmt.Errorf("%w: %s is at %d, expected %d", ErrCheckpointMoved, name, cp.Seq, st.from))
	}
	// A rebuild may have swapped in a table with other columns: autorebuild.go.
	t, err := p.refreshTarget(ctx, tx, st.target, oid)
	if err != nil {
		return fold.ApplyResult{}, p.rollbackStep(ctx, tx, err)
	}
	st.target = t
	res, err := t.ApplyPrepared(ctx, tx, st.from, st.to)
	if err != nil {
		return fold.ApplyResult{}, p.rollbackStep(ctx, tx, err)
	}
	b = &pgx.Batch{}
	t.QueueUnknownFields(b, st.from, st.to, &res.UnknownFields)
	queueAdvanceCheckpoint(b, p.cfg.Schema, name, st.from, st.to)
	b.Queue("release savepoint " + stepSavepoint[len("savepoint "):])
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, ErrCheckpointMoved) {
			// Under the lock, seen at from: cannot happen. Were it to, the
			// step's rows stay in the round with its savepoint released,
			// so the round must not commit.
			return fold.ApplyResult{}, fmt.Errorf("finishing a step: %s", err.Error())
		}
		return fold.ApplyResult{}, p.rollbackStep(ctx, tx, err)
	}
	return res, nil
}

// stepSavepoint opens the savepoint a step runs under. Each step's is
// released or rolled back before the next opens, so one name serves all.
const stepSavepoint = "savepoint projector_step"

// rollbackStep undoes a failed step (err) and returns err; if even that
// fails, the transaction is unusable and that error is returned.
func (p *Projector) rollbackStep(ctx context.Context, tx pgx.Tx, err error) error {
	if _, rerr := tx.Exec(ctx, "rollback to savepoint "+stepSavepoint[len("savepoint "):]); rerr != nil {
		// Not a step error: the transaction is unusable.
		return fmt.Errorf("rolling back a step after %s: %v", err, rerr)
	}
	return err
}

// isStepError reports errors that fail one step but leave the round's
// transaction usable: PostgreSQL refused a statement (the savepoint was
// rolled back), or the checkpoint moved.
func isStepError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) || errors.Is(err, ErrCheckpointMoved) || errors.Is(err, ErrNoCheckpoint)
}

// typesIn returns the event types logged in the round's positions.
func (p *Projector) typesIn(ctx context.Context, tx pgx.Tx, round []step) (map[string]bool, error) {
	lo, hi := round[0].from, round[0].to
	for _, st := range round[1:] {
		lo, hi = min(lo, st.from), max(hi, st.to)
	}
	types, err := eventlog.TypesAfter(ctx, tx, p.cfg.Schema, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("reading the round's event types: %w", err)
	}
	present := make(map[string]bool, len(types))
	for _, t := range types {
		present[t] = true
	}
	return present, nil
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
		c, ok := cps[t.Projection().Name]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoCheckpoint, t.Projection().Name)
		}
		p.checkpoints[t.Projection().Name] = c.Seq
	}
	return nil
}

// writePaused marks this projector's paused history projections in
// projection_checkpoints and every other one live, so that every reader of
// the lag (back-pressure, metrics, status, on any replica) leaves the
// paused ones out. Run by the leader at the start of each lead.
func (p *Projector) writePaused(ctx context.Context) error {
	rows, err := p.pool.Query(ctx, sqlFor(p.cfg.Schema).SetPaused, p.pausedNames())
	if err != nil {
		return fmt.Errorf("marking paused projections: %w", err)
	}
	type change struct {
		Projection string
		Paused     bool
		Seq        int64
	}
	changes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[change])
	if err != nil {
		return fmt.Errorf("marking paused projections: %w", err)
	}
	for _, c := range changes {
		if c.Paused {
			p.logger.InfoContext(ctx, "history paused (PROJECTOR_HISTORY): its table keeps the versions up to its checkpoint",
				slog.String("projection", c.Projection), slog.Int64("checkpoint", c.Seq))
		} else {
			p.logger.InfoContext(ctx, "projection resumed: it folds what it missed from the log", slog.String("projection", c.Projection),
				slog.Int64("checkpoint", c.Seq))
		}
	}
	p.pausedWritten = true
	return nil
}

func (p *Projector) logBatch(ctx context.Context, name string, from, to int64, res fold.ApplyResult, took time.Duration) {
	p.logger.DebugContext(ctx, "batch applied", slog.String("projection", name), slog.Int64("from", from), slog.Int64("to", to),
		slog.Int64("events", res.Events), slog.Int64("rows", res.Rows), slog.Int64("recomputed", res.Recomputed), slog.Duration("took", took))
	for _, dl := range res.DeadLetters {
		p.logger.WarnContext(ctx, "event dead-lettered", slog.String("projection", name), slog.Int64("seq", dl.Seq),
			slog.String("event_id", dl.EventID), slog.String("event_type", dl.EventType), slog.String("sqlstate", dl.SQLState), slog.String("error", dl.LogError()))
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
	for t := range fold.KnownTypes() {
		known = append(known, t)
	}
	counts, err := eventlog.CountTypesAfter(ctx, p.pool, p.cfg.Schema, p.typesCounted, upTo, known)
	if err != nil {
		p.logFailure(ctx, "counting unknown event types", err)
		return
	}
	for typ, n := range counts {
		p.cfg.Metrics.unknownType(typ, n)
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
