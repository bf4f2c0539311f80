package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DeadLetter is an event a projection could not apply. While unresolved,
// every fold of that projection (live or rebuild) leaves it out.
type DeadLetter struct {
	Projection string
	Seq        int64
	EventID    string
	EventType  string
	// Error is PostgreSQL's message from the last attempt; SQLState its code.
	Error      string
	SQLState   string
	FirstSeen  time.Time
	LastSeen   time.Time
	Retries    int
	ResolvedAt *time.Time
}

const deadLetterColumns = "projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at"

func deadLettersTable(schema string) string {
	return pgx.Identifier{schema, "dead_letters"}.Sanitize()
}

// recordDeadLetter sets the event at seq aside for projection, in tx.
func recordDeadLetter(ctx context.Context, tx pgx.Tx, schema, projection string, seq int64, cause error) (DeadLetter, error) {
	msg, code := cause.Error(), ""
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) {
		msg, code = pgErr.Message, pgErr.Code
		if pgErr.Detail != "" {
			msg += " (" + pgErr.Detail + ")"
		}
	}
	rows, err := tx.Query(ctx, `insert into `+deadLettersTable(schema)+` as d
    (projection, seq, event_id, event_type, error, sqlstate)
select $1, e.seq, e.event_id, e.type, $3, nullif($4, '')
from `+pgx.Identifier{schema, "events"}.Sanitize()+` e where e.seq = $2
on conflict (projection, seq) do update
set error = excluded.error, sqlstate = excluded.sqlstate, last_seen = now(), resolved_at = null
returning `+deadLetterColumns, projection, seq, msg, code)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("recording dead letter %s/%d: %w", projection, seq, err)
	}
	dl, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return DeadLetter{}, fmt.Errorf("recording dead letter %s/%d: %w", projection, seq, err)
	}
	return dl, nil
}

// ListDeadLetters returns the dead letters of schema, oldest first; only
// the unresolved ones unless all is set.
func ListDeadLetters(ctx context.Context, db DB, schema string, all bool) ([]DeadLetter, error) {
	rows, err := db.Query(ctx, "select "+deadLetterColumns+" from "+deadLettersTable(schema)+
		" where $1 or resolved_at is null order by seq, projection", all)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	return list, nil
}

// TxStarter begins transactions: a pool or a connection.
type TxStarter interface {
	Begin(ctx context.Context) (pgx.Tx, error)
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
func RetryDeadLetters(ctx context.Context, db TxStarter, schema, projection string) (RetryResult, error) {
	var res RetryResult
	for _, p := range catalog {
		if projection != "" && p.Name != projection {
			continue
		}
		if err := retryProjection(ctx, db, schema, p, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func retryProjection(ctx context.Context, db TxStarter, schema string, p Projection, res *RetryResult) error {
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
	t, err := Compile(ctx, tx, schema, p.Name, p.Table)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, "select "+deadLetterColumns+" from "+deadLettersTable(schema)+
		" where projection = $1 and resolved_at is null order by seq", p.Name)
	if err != nil {
		return fmt.Errorf("listing %s dead letters: %w", p.Name, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return fmt.Errorf("listing %s dead letters: %w", p.Name, err)
	}
	for _, dl := range list {
		done, err := t.retryOne(ctx, tx, dl, cp.Seq)
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

// retryOne resolves dl and recomputes its entities, under a savepoint; on
// a data error it rolls that back and records the new error instead.
func (t *Target) retryOne(ctx context.Context, tx pgx.Tx, dl DeadLetter, upTo int64) (DeadLetter, error) {
	table := deadLettersTable(t.schema)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return dl, fmt.Errorf("opening a savepoint: %w", err)
	}
	rows, err := sp.Query(ctx, "update "+table+" set resolved_at = now(), last_seen = now(), retries = retries + 1"+
		" where projection = $1 and seq = $2 returning "+deadLetterColumns, dl.Projection, dl.Seq)
	if err == nil {
		dl, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[DeadLetter])
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		return dl, fmt.Errorf("resolving dead letter %s/%d: %w", dl.Projection, dl.Seq, err)
	}
	ids, err := t.entities(ctx, sp, []int64{dl.Seq})
	if err == nil && len(ids) == 0 {
		err = errNoEntity // Still nothing to apply it to: keep it visible.
	}
	if err == nil {
		_, err = t.Recompute(ctx, sp, ids, upTo)
	}
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return dl, fmt.Errorf("releasing a savepoint: %w", err)
		}
		return dl, nil
	}
	_ = sp.Rollback(ctx)
	if !isDataError(err) && !errors.Is(err, errNoEntity) {
		return dl, err
	}
	failed, err := recordDeadLetter(ctx, tx, t.schema, dl.Projection, dl.Seq, unwrapPg(err))
	if err != nil {
		return dl, err
	}
	_, err = tx.Exec(ctx, "update "+table+" set retries = retries + 1 where projection = $1 and seq = $2", dl.Projection, dl.Seq)
	if err != nil {
		return failed, fmt.Errorf("counting the retry of %s/%d: %w", dl.Projection, dl.Seq, err)
	}
	failed.Retries++
	return failed, nil
}

// errNoEntity is why a retried dead letter whose event still names no
// entity it can be applied to stays unresolved.
var errNoEntity = errors.New("the event still names no entity this projection can find")

// unwrapPg returns the PostgreSQL error inside err, if any, so dead letters
// hold the server's message rather than our wrapping.
func unwrapPg(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return err
}
