package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

type testBundle struct {
	schema   *pgtest.Schema
	appender *Appender
	now      time.Time
}

// setup returns a migrated schema and a started Appender on pool (the
// schema's pool when nil).
func setup(t *testing.T, pool *pgxpool.Pool) *testBundle {
	t.Helper()
	s := pgtest.NewSchema(t)
	if pool == nil {
		pool = s.Pool
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	a, err := NewAppender(pool, AppenderConfig{Schema: s.Name, WriteTimeout: 3 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	t.Cleanup(a.Stop)
	b := &testBundle{schema: s, appender: a, now: time.Now()}
	return b
}

func eventBody(id, typ string) []byte {
	return fmt.Appendf(nil, `{"id": %q, "created_at": "2025-01-08T08:19:20.763280+00:00", "type": %q, "customer": {"id": "cus_%s", "name": "A"}, "properties": {}}`, id, typ, id)
}

func (b *testBundle) count(t *testing.T, where string, args ...any) int {
	t.Helper()
	var n int
	q := "select count(*) from " + b.schema.Name + ".events"
	if where != "" {
		q += " where " + where
	}
	if err := b.schema.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertGapless checks the log's central invariant: positions 1..head, no
// holes, and log_head agrees.
func assertGapless(t *testing.T, s *pgtest.Schema) {
	t.Helper()
	var n, maxSeq, head int64
	err := s.Pool.QueryRow(context.Background(),
		"select count(*), coalesce(max(seq), 0), (select seq from "+s.Name+".log_head) from "+s.Name+".events").Scan(&n, &maxSeq, &head)
	if err != nil {
		t.Fatal(err)
	}
	if n != maxSeq || head != maxSeq {
		t.Fatalf("log has %d rows, max seq %d, head %d: not gapless", n, maxSeq, head)
	}
}
