package eventlog

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestAppendTxCommitsWithCallersWrites shows the point of AppendTx: events
// and the caller's own write commit together or not at all, and a refused
// event leaves the transaction usable with its neighbours stored.
func TestAppendTxCommitsWithCallersWrites(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	table := pgx.Identifier{b.schema.Name, "tx_marker"}.Sanitize()
	if _, err := b.schema.Pool.Exec(ctx, "create table "+table+" (n int)"); err != nil {
		t.Fatal(err)
	}
	bad := testEvent("bad")
	bad.Body = []byte(`{"id":"bad","type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c","name":"\u0000"}}`)

	// Rolled back: nothing of it remains.
	err := pgx.BeginFunc(ctx, b.schema.Pool, func(tx pgx.Tx) error {
		if _, err := b.appender.AppendTx(ctx, tx, []Event{testEvent("a")}); err != nil {
			return err
		}
		return errors.New("caller fails after appending")
	})
	if err == nil || b.count(t, "") != 0 {
		t.Fatalf("rolled-back AppendTx left %d events (err %v)", b.count(t, ""), err)
	}

	// Committed with a refused event in the middle and a duplicate.
	var res []Result
	err = pgx.BeginFunc(ctx, b.schema.Pool, func(tx pgx.Tx) error {
		var err error
		res, err = b.appender.AppendTx(ctx, tx, []Event{testEvent("a"), bad, testEvent("b"), testEvent("a")})
		var be *BatchError
		if !errors.As(err, &be) || !errors.Is(err, ErrUnstorable) {
			t.Errorf("err = %v, want a BatchError wrapping ErrUnstorable", err)
		}
		_, err = tx.Exec(ctx, "insert into "+table+" values (1)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Seq != 1 || res[1] != (Result{}) || res[2].Seq != 2 || !res[3].Duplicate {
		t.Fatalf("results = %+v", res)
	}
	var marks int
	if err := b.schema.Pool.QueryRow(ctx, "select count(*) from "+table).Scan(&marks); err != nil || marks != 1 {
		t.Fatalf("caller's row: %d, %v", marks, err)
	}
	// A later append continues the numbering without a hole.
	if r, err := b.appender.AppendBatch(ctx, []Event{testEvent("c"), testEvent("b")}); err != nil || r[0].Seq != 3 || !r[1].Duplicate {
		t.Fatalf("after AppendTx: %+v, %v", r, err)
	}
	assertGapless(t, b.schema)
}
