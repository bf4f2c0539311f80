package fold

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orb-sync/orb-sync/eventlog"
	orbsql "github.com/orb-sync/orb-sync/sql"
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

// LogError is Error fit for logs: PostgreSQL's message without its detail
// and with every quoted value but identifiers removed. Messages quote the
// offending value ("invalid input syntax for type numeric: \"…\"") and
// details whole rows ("Failing row contains (…)"): payload values that must
// not reach the logs. The full text stays in the dead_letters table.
func (d DeadLetter) LogError() string {
	msg, _, _ := strings.Cut(d.Error, " (")
	return quotedValue.ReplaceAllStringFunc(msg, func(q string) string {
		if identifierQuote.MatchString(q) {
			return q
		}
		return `"…"`
	})
}

var (
	quotedValue = regexp.MustCompile(`(?:\b(?:column|relation|constraint|index|table|type|function|schema) )?"[^"]*"`)
	// identifierQuote is a quoted name after the word that says it is one.
	identifierQuote = regexp.MustCompile(`^(?:column|relation|constraint|index|table|type|function|schema) "`)
)

// deadLetterSQL is the dead letters' SQL, in
// sql/queries/projector/internal/fold/ (see package sql for the scheme).
// Each statement that returns dead letters returns the columns a
// DeadLetter scans, in its field order.
type deadLetterSQL struct {
	Record   string `sql:"record_dead_letter"`
	Resolve  string `sql:"resolve_dead_letter"`
	Retried  string `sql:"count_retry"`
	SetAside string `sql:"set_aside"`
}

var deadLetterFiles = orbsql.MustQueries[deadLetterSQL]("projector/internal/fold")

// RecordDeadLetter sets the event at seq aside for projection, in tx.
func RecordDeadLetter(ctx context.Context, tx pgx.Tx, schema, projection string, seq int64, cause error) (DeadLetter, error) {
	msg, code := cause.Error(), ""
	var pgErr *pgconn.PgError
	if errors.As(cause, &pgErr) {
		msg, code = pgErr.Message, pgErr.Code
		if pgErr.Detail != "" {
			msg += " (" + pgErr.Detail + ")"
		}
	}
	rows, err := tx.Query(ctx, deadLetterFiles.For(schema).Record, projection, seq, msg, code)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("recording dead letter %s/%d: %w", projection, seq, err)
	}
	dl, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return DeadLetter{}, fmt.Errorf("recording dead letter %s/%d: %w", projection, seq, err)
	}
	return dl, nil
}

// RetryDeadLetter resolves dl and recomputes its entities, under a savepoint; on
// a data error it rolls that back and records the new error instead. The
// caller sets tx up with PrepareTx or PrepareRound, as for Recompute.
func (t *Target) RetryDeadLetter(ctx context.Context, tx pgx.Tx, dl DeadLetter, upTo int64) (DeadLetter, error) {
	q := deadLetterFiles.For(t.schema)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return dl, fmt.Errorf("opening a savepoint: %w", err)
	}
	rows, err := sp.Query(ctx, q.Resolve, dl.Projection, dl.Seq)
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
	if !eventlog.IsDataError(err) && !errors.Is(err, errNoEntity) {
		return dl, err
	}
	failed, err := RecordDeadLetter(ctx, tx, t.schema, dl.Projection, dl.Seq, retryCause(err, dl))
	if err != nil {
		return dl, err
	}
	_, err = tx.Exec(ctx, q.Retried, dl.Projection, dl.Seq)
	if err != nil {
		return failed, fmt.Errorf("counting the retry of %s/%d: %w", dl.Projection, dl.Seq, err)
	}
	failed.Retries++
	return failed, nil
}

// errNoEntity is why a retried dead letter whose event still names no
// entity it can be applied to stays unresolved.
var errNoEntity = errors.New("the event still names no entity this projection can find")

// retryCause is what a failed retry of dl records: PostgreSQL's error, or,
// for an event that still names no entity, why it was set aside (e.g.
// "the event's customer is a string, not an object"), which says more.
func retryCause(err error, dl DeadLetter) error {
	if errors.Is(err, errNoEntity) && dl.Error != "" {
		return errors.New(dl.Error)
	}
	return unwrapPg(err)
}

// unwrapPg returns the PostgreSQL error inside err, if any, so dead letters
// hold the server's message rather than our wrapping.
func unwrapPg(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	return err
}
