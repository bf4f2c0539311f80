package webhooktest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
)

// copyChunk is how many rows one COPY carries: well inside a pool's
// statement_timeout.
const copyChunk = 20000

// Copy writes n events of the reference mix (in turn, about entities
// resources per kind) into schema's empty log with COPY, as the appender
// stores them: zstd body, jsonb payload, signed with secret, positions 1
// to n, the head moved to n. It skips the appender's per-batch locking and
// duplicate checks, so a million-event log takes minutes: for benchmarks
// that need a large log, not for measuring the append path. Bodies are
// made and compressed on one goroutine while PostgreSQL parses the
// previous ones.
func Copy(ctx context.Context, pool *pgxpool.Pool, schema string, n, entities int, secret string) error {
	gen, err := New(entities, 1)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rows := make(chan []any, 1024)
	genErr := make(chan error, 1)
	go func() {
		defer close(rows)
		stamp := webhook.FormatTimestamp(time.Now())
		for i := range n {
			_, _, body := gen.Next(Kinds[i%len(Kinds)])
			env, err := eventlog.ParseEnvelope(body)
			if err != nil {
				genErr <- fmt.Errorf("generated body does not parse: %w", err)
				return
			}
			z, err := eventlog.CompressBody(body)
			if err != nil {
				genErr <- err
				return
			}
			row := []any{int64(i + 1), env.ID, env.Type, env.CreatedAt, eventlog.SourceWebhook, env.ResourceType, env.ResourceID,
				z, string(body), stamp, "v1=" + eventlog.Sign(secret, stamp, body)}
			select {
			case rows <- row:
			case <-ctx.Done():
				return
			}
		}
	}()
	columns := []string{"seq", "event_id", "type", "created_at", "source", "resource_type", "resource_id",
		"body_zstd", "payload", "orb_timestamp", "orb_signature"}
	for copied := 0; copied < n; {
		left := min(copyChunk, n-copied)
		got, err := pool.CopyFrom(ctx, pgx.Identifier{schema, "events"}, columns, pgx.CopyFromFunc(func() ([]any, error) {
			if left == 0 {
				return nil, nil
			}
			row, ok := <-rows
			if !ok {
				select {
				case err := <-genErr:
					return nil, err
				default:
					return nil, errors.New("generator stopped early")
				}
			}
			left--
			return row, nil
		}))
		if err != nil {
			return fmt.Errorf("copying generated events: %w", err)
		}
		copied += int(got)
	}
	if _, err := pool.Exec(ctx, sqlFiles.For(schema).SetHead, n); err != nil {
		return fmt.Errorf("moving the log head: %w", err)
	}
	return nil
}
