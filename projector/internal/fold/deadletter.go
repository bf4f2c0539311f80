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

// DeadLetterColumns are the columns a DeadLetter scans, in its field order.
const DeadLetterColumns = "projection, seq, event_id, event_type, error, coalesce(sqlstate, ''), first_seen, last_seen, retries, resolved_at"

// DeadLettersTable is the quoted name of schema's dead-letter table.
func DeadLettersTable(schema string) string {
	return pgx.Identifier{schema, "dead_letters"}.Sanitize()
}

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
	rows, err := tx.Query(ctx, `insert into `+DeadLettersTable(schema)+` as d
    (projection, seq, event_id, event_type, error, sqlstate)
select $1, e.seq, e.event_id, e.type, $3, nullif($4, '')
from `+pgx.Identifier{schema, "events"}.Sanitize()+` e where e.seq = $2
on conflict (projection, seq) do update
set error = excluded.error, sqlstate = excluded.sqlstate, last_seen = now(), resolved_at = null
returning `+DeadLetterColumns, projection, seq, msg, code)
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
// a data error it rolls that back and records the new error instead.
func (t *Target) RetryDeadLetter(ctx context.Context, tx pgx.Tx, dl DeadLetter, upTo int64) (DeadLetter, error) {
	table := DeadLettersTable(t.schema)
	sp, err := tx.Begin(ctx)
	if err != nil {
		return dl, fmt.Errorf("opening a savepoint: %w", err)
	}
	rows, err := sp.Query(ctx, "update "+table+" set resolved_at = now(), last_seen = now(), retries = retries + 1"+
		" where projection = $1 and seq = $2 returning "+DeadLetterColumns, dl.Projection, dl.Seq)
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
	failed, err := RecordDeadLetter(ctx, tx, t.schema, dl.Projection, dl.Seq, unwrapPg(err))
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
