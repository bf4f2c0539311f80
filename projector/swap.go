package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Backoff between swap attempts, and how often dropping the old table is
// tried before it is left for the next rebuild.
const (
	swapBackoffMin  = 100 * time.Millisecond
	swapBackoffMax  = 5 * time.Second
	dropOldAttempts = 10
)

// catchUp folds what was appended during the fill into the shadow table
// until what is left fits in the swap (CatchUpLimit), so the swap pauses
// the live projection only briefly.
func (b *rebuild) catchUp(ctx context.Context) error {
	for {
		head, err := readHead(ctx, b.conn, b.schema())
		if err != nil {
			return err
		}
		if head-b.done <= b.r.cfg.CatchUpLimit {
			return nil
		}
		b.total = head
		b.progress(PhaseCatchingUp, nil)
		if err := b.fill(ctx, b.done, head); err != nil {
			return err
		}
	}
}

// swap tries the swap transaction until it commits, retrying when a lock
// wait times out (a reader or the live projector's batch held the table).
func (b *rebuild) swap(ctx context.Context) error {
	return b.retrySwap(ctx, "swapping in "+b.names.shadow, b.trySwap, b.catchUp)
}

// retrySwap runs try, the transaction that ends a rebuild, until it
// commits, backing off and running meanwhile (if set) between attempts
// when a lock wait timed out.
func (b *rebuild) retrySwap(ctx context.Context, what string, try, meanwhile func(context.Context) error) error {
	b.progress(PhaseSwapping, nil)
	backoff := swapBackoffMin
	for {
		b.res.SwapAttempts++
		start := time.Now()
		err := try(ctx)
		if err == nil {
			b.res.Swap = time.Since(start)
			return nil
		}
		if !isLockTimeout(err) || b.res.SwapAttempts >= b.r.cfg.SwapAttempts {
			return fmt.Errorf("%s (attempt %d): %w", what, b.res.SwapAttempts, err)
		}
		b.r.cfg.Metrics.swapRetried(b.p.Name)
		b.r.cfg.Logger.WarnContext(ctx, "swap gave up waiting for a lock; retrying", slog.String("table", b.p.Table),
			slog.Int("attempt", b.res.SwapAttempts), slog.Duration("backoff", backoff), slog.String("error", err.Error()))
		if !sleep.For(ctx, sleep.Jitter(backoff)) {
			return context.Cause(ctx)
		}
		backoff = min(2*backoff, swapBackoffMax)
		if meanwhile == nil {
			continue
		}
		if err := meanwhile(ctx); err != nil {
			return err
		}
	}
}

// trySwap is the swap transaction. Holding the projection's checkpoint row
// pauses the live projector for this projection (it locks the same row at
// the start of every batch), so nothing is applied to the live table
// between reading the head and renaming it: the shadow table catches up to
// that head, takes the live table's name and indexes' names, and the
// checkpoint moves to the head with this binary's version.
func (b *rebuild) trySwap(ctx context.Context) error {
	tx, err := b.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning the swap: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := setLockTimeout(ctx, tx, b.schema(), b.r.cfg.LockTimeout); err != nil {
		return err
	}
	cp, err := LockCheckpoint(ctx, tx, b.schema(), b.p.Name)
	if err != nil {
		return err
	}
	head, err := readHead(ctx, tx, b.schema())
	if err != nil {
		return err
	}
	upTo := max(cp.Seq, head, b.done)
	res, err := b.target.Fold(ctx, tx, b.done, upTo)
	if err != nil {
		return err
	}
	if err := b.renameTables(ctx, tx); err != nil {
		return err
	}
	if err := b.redefineAsOf(ctx, tx); err != nil {
		return err
	}
	if err := publishDeadLetters(ctx, tx, b.schema(), b.p.Name, fold.DeadLetterKey(b.p, b.names.shadow)); err != nil {
		return err
	}
	if err := SetCheckpoint(ctx, tx, b.schema(), b.p.Name, upTo, b.p.Version); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing the swap: %w", err)
	}
	b.swapped = true
	b.done, b.total, b.res.Checkpoint = upTo, upTo, upTo
	b.add(res)
	return nil
}

// renameTables renames live → old and shadow → live, and the indexes (and
// so their constraints) so that the live table's index names never change.
// The first rename locks the live table; only then is it checked against
// what the shadow table was copied from.
func (b *rebuild) renameTables(ctx context.Context, tx pgx.Tx) error {
	var stmts []string
	rename := func(kind, from, to string) {
		stmts = append(stmts, fmt.Sprintf("alter %s %s rename to %s", kind, b.ident(from), pgx.Identifier{to}.Sanitize()))
	}
	rename("table", b.names.live, b.names.old)
	if _, err := tx.Exec(ctx, stmts[0]); err != nil {
		return fmt.Errorf("renaming %s: %w", b.names.live, err)
	}
	if err := b.checkUnchanged(ctx, tx); err != nil {
		return err
	}
	stmts = stmts[:0]
	for _, d := range b.indexes {
		rename("index", d.Name, d.oldName())
	}
	rename("table", b.names.shadow, b.names.live)
	for _, d := range b.indexes {
		rename("index", d.tempName(), d.Name)
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("swapping names (%s): %w", stmt, err)
		}
	}
	return nil
}

// checkUnchanged makes sure no migration changed the live table's columns
// or indexes since the shadow was created LIKE it: swapping would undo it.
func (b *rebuild) checkUnchanged(ctx context.Context, tx pgx.Tx) error {
	cols, err := fold.ReadColumns(ctx, tx, b.schema(), b.names.old)
	if err != nil {
		return err
	}
	if !slices.Equal(cols, b.liveCols) {
		return fmt.Errorf("%w: %s's columns changed", ErrLiveChanged, b.names.live)
	}
	idx, err := readIndexes(ctx, tx, b.schema(), b.names.old)
	if err != nil {
		return err
	}
	same := slices.EqualFunc(idx, b.indexes, func(x, y indexDef) bool { return x.OID == y.OID && x.Name == y.Name })
	if !same {
		return fmt.Errorf("%w: %s's indexes changed", ErrLiveChanged, b.names.live)
	}
	return nil
}

// dropOld drops the replaced table. Readers that opened it before the swap
// may still hold it; the drop waits for them a little at a time, and
// leaves it for the next rebuild if they take too long.
func (b *rebuild) dropOld(ctx context.Context) {
	var err error
	for range dropOldAttempts {
		err = pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error {
			if err := setLockTimeout(ctx, tx, b.schema(), b.r.cfg.LockTimeout); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "drop table if exists "+b.ident(b.names.old))
			return err
		})
		if err == nil || !isLockTimeout(err) || !sleep.For(ctx, sleep.Jitter(swapBackoffMin)) {
			break
		}
	}
	if err != nil {
		b.r.cfg.Logger.WarnContext(ctx, "could not drop the replaced table; the next rebuild will",
			slog.String("table", b.names.old), slog.String("error", err.Error()))
	}
}

func setLockTimeout(ctx context.Context, tx pgx.Tx, schema string, d time.Duration) error {
	_, err := tx.Exec(ctx, sqlFor(schema).SetLockTimeout, strconv.FormatInt(d.Milliseconds(), 10))
	if err != nil {
		return fmt.Errorf("setting lock_timeout: %w", err)
	}
	return nil
}

// isLockTimeout reports a lock wait that gave up (lock_timeout) or a
// deadlock PostgreSQL broke by cancelling us: both are worth retrying.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}

// redefineAsOf points a history table's as-of function at the table just
// swapped in: it returns the table's row type, which stayed with the old
// one (and would keep it from being dropped).
func (b *rebuild) redefineAsOf(ctx context.Context, tx pgx.Tx) error {
	if !b.p.History {
		return nil
	}
	if _, err := tx.Exec(ctx, sqlFor(b.schema()).RedefineAsOf, b.p.BaseTable()); err != nil {
		return fmt.Errorf("redefining %s_as_of: %w", b.p.BaseTable(), err)
	}
	return nil
}

// publishDeadLetters makes the shadow table's dead letters (recorded under
// shadowKey while it was built) the live table's, in the swap transaction:
// the events the new table left out are exactly its own. The live table's
// unresolved dead letters that the rebuild applied are marked resolved;
// resolved ones stay as history.
func publishDeadLetters(ctx context.Context, tx pgx.Tx, schema, projection, shadowKey string) error {
	q := sqlFor(schema)
	for _, stmt := range []string{q.ResolveRebuiltDeadLetters, q.PublishDeadLetters} {
		if _, err := tx.Exec(ctx, stmt, projection, shadowKey); err != nil {
			return fmt.Errorf("publishing the rebuild's dead letters: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, q.ForgetDeadLetters, shadowKey); err != nil {
		return fmt.Errorf("publishing the rebuild's dead letters: %w", err)
	}
	return nil
}
