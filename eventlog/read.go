package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is a pool, a connection or a transaction: *pgxpool.Pool, *pgx.Conn and
// pgx.Tx all satisfy it (Begin on a transaction opens a savepoint). It is
// what the log's reads take, and what the projector's functions take too.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// TxBeginner starts transactions with options (isolation, read-only): a
// pool or a connection. Reads that need one snapshot of the whole log and
// its tables (export, verify, snapshot) take it.
type TxBeginner interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// Head returns the log's newest position. log_head only moves inside the
// append transaction, under its row lock, so every position up to the
// head is committed and visible to a snapshot that sees the head.
func Head(ctx context.Context, db DB, schema string) (int64, error) {
	var head int64
	if err := db.QueryRow(ctx, sqlFiles.For(schema).Head).Scan(&head); err != nil {
		return 0, fmt.Errorf("reading the log head: %w", err)
	}
	return head, nil
}

// ErrNoEvent is returned for an event id the log does not hold.
var ErrNoEvent = errors.New("no event")

// Body returns the exact bytes of the event eventID as received.
func Body(ctx context.Context, db DB, schema, eventID string) ([]byte, error) {
	var raw, compressed []byte
	err := db.QueryRow(ctx, sqlFiles.For(schema).BodyByID, eventID).Scan(&raw, &compressed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w %q in %s.events", ErrNoEvent, eventID, schema)
	}
	if err != nil {
		return nil, fmt.Errorf("reading event %s: %w", eventID, err)
	}
	body, err := DecodeBody(raw, compressed)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", eventID, err)
	}
	return body, nil
}

// TypesAfter returns the distinct types of the events after position
// after, up to upTo.
func TypesAfter(ctx context.Context, db DB, schema string, after, upTo int64) ([]string, error) {
	rows, err := db.Query(ctx, sqlFiles.For(schema).TypesAfter, after, upTo)
	if err != nil {
		return nil, fmt.Errorf("reading the types of events %d-%d: %w", after+1, upTo, err)
	}
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the types of events %d-%d: %w", after+1, upTo, err)
	}
	return types, nil
}

// CountTypesAfter counts the events of each type, except the types in
// except, after position after, up to upTo.
func CountTypesAfter(ctx context.Context, db DB, schema string, after, upTo int64, except []string) (map[string]int64, error) {
	rows, err := db.Query(ctx, sqlFiles.For(schema).CountTypesAfter, after, upTo, except)
	if err != nil {
		return nil, fmt.Errorf("counting the types of events %d-%d: %w", after+1, upTo, err)
	}
	out := map[string]int64{}
	var typ string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&typ, &n}, func() error {
		out[typ] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting the types of events %d-%d: %w", after+1, upTo, err)
	}
	return out, nil
}

// NewestEventIDs returns, for each object of resourceType in ids that the
// log has events about, the id of its newest event in the projections'
// order (Orb's created_at, then position).
func NewestEventIDs(ctx context.Context, db DB, schema, resourceType string, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.Query(ctx, sqlFiles.For(schema).NewestEventIDs, resourceType, ids)
	if err != nil {
		return nil, fmt.Errorf("looking up stored %s events: %w", resourceType, err)
	}
	var id, eventID string
	_, err = pgx.ForEachRow(rows, []any{&id, &eventID}, func() error {
		out[id] = eventID
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("looking up stored %s events: %w", resourceType, err)
	}
	return out, nil
}
