package eventlog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// TestNotifyRingsNotifyChannel: notify.sql spells the channel out; it
// must be the one readers LISTEN on.
func TestNotifyRingsNotifyChannel(t *testing.T) {
	for _, schema := range []string{orbsql.DefaultSchema, "test_1_ab"} {
		if want := orbsql.QuoteLiteral(NotifyChannel(schema)); !strings.Contains(sqlFiles.For(schema).Notify, want) {
			t.Errorf("notify.sql for %s lacks %s: %s", schema, want, sqlFiles.For(schema).Notify)
		}
	}
}

// TestAppendRingsNotifyChannel: both ways of appending ring the channel
// readers LISTEN on, delivered at commit (the append statement rings it,
// migration 019; AppendTx also runs notify.sql).
func TestAppendRingsNotifyChannel(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	conn, err := b.schema.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{NotifyChannel(b.schema.Name)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := conn.Conn().WaitForNotification(wctx); err != nil {
			t.Fatalf("%s: no notification: %v", what, err)
		}
	}
	env, err := ParseEnvelope(eventBody("evt_notify_1", "customer.edited"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.appender.Append(ctx, Event{Envelope: env, Body: eventBody("evt_notify_1", "customer.edited")}); err != nil {
		t.Fatal(err)
	}
	wait("Append")
	tx, err := b.schema.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	env.ID = "evt_notify_2"
	if _, err := b.appender.AppendTx(ctx, tx, []Event{{Envelope: env, Body: eventBody("evt_notify_2", "customer.edited")}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wait("AppendTx")
}
