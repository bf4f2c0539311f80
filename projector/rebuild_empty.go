package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// errFedMeanwhile ends keepEmpty's transaction when the table got a row or
// the log an event it reads since the first look: it is rebuilt instead.
var errFedMeanwhile = errors.New("the table or its events changed")

// keepEmpty ends the rebuild of a table that has no rows while no event in
// the log up to the head has a type its sources read: folding the log
// would give the same empty table, so instead of a shadow table, its
// indexes and a swap, one short transaction does what the swap would have
// done to it. Under the projection's checkpoint lock (as the swap takes
// it, pausing the live projector for this table) it looks again up to the
// head and moves the checkpoint there with this binary's version. It
// reports false, having changed nothing, when the table has rows or an
// event of its types is in the log: those are rebuilt as usual.
func (b *rebuild) keepEmpty(ctx context.Context) (bool, error) {
	head, err := readHead(ctx, b.conn, b.schema())
	if err != nil {
		return false, err
	}
	if fed, err := b.fedOrFilled(ctx, b.conn, head); err != nil || fed {
		return false, err
	}
	b.res.Head, b.total = head, head
	err = b.retrySwap(ctx, "keeping "+b.p.Table+" empty", b.tryKeepEmpty, nil)
	if errors.Is(err, errFedMeanwhile) {
		b.res.SwapAttempts, b.res.Swap = 0, 0
		return false, nil
	}
	if err != nil {
		return false, err
	}
	b.res.KeptEmpty = true
	return true, b.countRows(ctx)
}

// tryKeepEmpty is keepEmpty's transaction: the swap's, without a table to
// swap in.
func (b *rebuild) tryKeepEmpty(ctx context.Context) error {
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
	upTo := max(cp.Seq, head)
	fed, err := b.fedOrFilled(ctx, tx, upTo)
	if err != nil {
		return err
	}
	if fed {
		return errFedMeanwhile
	}
	if err := b.dropLeftovers(ctx, tx); err != nil {
		return err
	}
	if err := publishDeadLetters(ctx, tx, b.schema(), b.p.Name, fold.DeadLetterKey(b.p, b.names.shadow)); err != nil {
		return err
	}
	if err := SetCheckpoint(ctx, tx, b.schema(), b.p.Name, upTo, b.p.Version); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing the checkpoint: %w", err)
	}
	b.swapped = true
	b.done, b.total, b.res.Checkpoint = upTo, upTo, upTo
	return nil
}

// fedOrFilled reports whether the live table has a row or the log an event
// up to upTo of a type the projection reads (the fold reads no other).
func (b *rebuild) fedOrFilled(ctx context.Context, db DB, upTo int64) (bool, error) {
	q := fmt.Sprintf(`select exists (select from %s e where e.type = any ($1) and e.seq <= $2)
	or exists (select from %s)`, b.ident("events"), b.ident(b.names.live))
	var fed bool
	if err := db.QueryRow(ctx, q, b.p.Types(), upTo).Scan(&fed); err != nil {
		return false, fmt.Errorf("looking for %s's events: %w", b.p.Table, err)
	}
	return fed, nil
}
