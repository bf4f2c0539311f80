package eventlog

import (
	"context"
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
