package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// repeatableReadPool is a pool whose sessions default to repeatable read,
// as a role or database default (ALTER ROLE … SET
// default_transaction_isolation) would make them.
func repeatableReadPool(t *testing.T, s *pgtest.Schema) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestContendedAppendsUnderRepeatableReadDefault: two replicas' appenders
// contend for the log head on sessions whose default isolation is
// repeatable read. Every append must still succeed (the append transaction
// asks for read committed), and the log stays gapless.
func TestContendedAppendsUnderRepeatableReadDefault(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	pool := repeatableReadPool(t, s)
	var appenders [2]*Appender
	for i := range appenders {
		a, err := NewAppender(pool, AppenderConfig{Schema: s.Name, MaxBatchEvents: 2})
		if err != nil {
			t.Fatal(err)
		}
		a.Start()
		t.Cleanup(a.Stop)
		appenders[i] = a
	}
	const perSender, senders = 40, 6
	var wg sync.WaitGroup
	errs := make(chan error, perSender*senders)
	for s := range senders {
		wg.Go(func() {
			for i := range perSender {
				_, err := appenders[s%2].Append(context.Background(), testEvent(fmt.Sprintf("rr_%d_%d", s, i)))
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append under a repeatable-read default: %v", err)
	}
	assertGapless(t, s)
}

// TestAppendTxRefusesRepeatableRead: AppendTx in a transaction that is not
// read committed is refused with a clear error instead of failing later,
// under contention, with a serialization error.
func TestAppendTxRefusesRepeatableRead(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	pool := repeatableReadPool(t, b.schema)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := b.appender.AppendTx(ctx, tx, []Event{testEvent("rr")})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "read committed") {
		t.Fatalf("AppendTx in a repeatable-read transaction: %v", err)
	}
	err = pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		_, err := b.appender.AppendTx(ctx, tx, []Event{testEvent("rc")})
		return err
	})
	if err != nil {
		t.Fatalf("AppendTx in an explicit read-committed transaction: %v", err)
	}
}

// TestAppendRacingStopIsAlwaysAnswered: an Append without a deadline that
// has seen the appender running, and is about to queue when Stop begins,
// gets an answer: stored, or ErrStopped. Before the fix it could be queued
// after the writer's final drain and wait forever.
func TestAppendRacingStopIsAlwaysAnswered(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	for round := range 20 {
		a, err := NewAppender(s.Pool, AppenderConfig{Schema: s.Name})
		if err != nil {
			t.Fatal(err)
		}
		inWindow := make(chan struct{})
		a.testHookEnqueue = func() {
			close(inWindow)
			// Let Stop begin while this Append is in the window.
			select {
			case <-a.stopping:
			case <-time.After(5 * time.Second):
				t.Error("Stop never began")
			}
		}
		a.Start()
		answered := make(chan error, 1)
		go func() {
			_, err := a.Append(context.Background(), testEvent(fmt.Sprintf("stop_%d", round)))
			answered <- err
		}()
		<-inWindow
		stopped := make(chan struct{})
		go func() { a.Stop(); close(stopped) }()
		select {
		case err := <-answered:
			if err != nil && !errors.Is(err, ErrStopped) {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: an Append racing Stop was never answered", round)
		}
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Stop did not return", round)
		}
	}
}

// TestAppendBeforeStartRefusedByStop: an Append queued to an appender that
// is stopped without ever starting is refused, not left waiting.
func TestAppendBeforeStartRefusedByStop(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	a, err := NewAppender(s.Pool, AppenderConfig{Schema: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		_, err := a.Append(context.Background(), testEvent("never"))
		answered <- err
	}()
	waitUntil(t, 10*time.Second, "the append to be queued", func() bool { return len(a.queue) == 1 })
	a.Stop()
	select {
	case err := <-answered:
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("append before start, then Stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an Append queued before Start was never answered")
	}
}

// TestUnstorableEventsLeaveNeighboursStored: events PostgreSQL can never
// store (a field nested 100,000 deep, a customer id too big for the
// resource index) are refused as unstorable, and the valid events committed
// in the same batch are stored (webhook's TestUnstorableSignedEventGets400
// checks the HTTP answer).
func TestUnstorableEventsLeaveNeighboursStored(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	deep, long := string(UnstorableDeepBody("deep")), string(UnstorableLongIDBody("long"))
	// Appended directly, so both are certainly in one group commit with
	// the valid ones.
	deepEnv, err := ParseEnvelope([]byte(deep))
	if err != nil {
		t.Fatalf("parsing the deep event: %v", err)
	}
	longEnv, err := ParseEnvelope([]byte(long))
	if err != nil {
		t.Fatalf("parsing the long-id event: %v", err)
	}
	events := []Event{testEvent("v1"), {Envelope: deepEnv, Body: []byte(deep)}, testEvent("v2"), {Envelope: longEnv, Body: []byte(long)}, testEvent("v3")}
	res, err := b.appender.AppendBatch(context.Background(), events)
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrUnstorable) {
		t.Fatalf("batch with unstorable events: %v, want a BatchError wrapping ErrUnstorable", err)
	}
	for i, r := range res {
		if stored := r.Seq > 0; stored != (i%2 == 0) {
			t.Errorf("event %d (%s): %+v", i, events[i].ID, r)
		}
	}

	if got := b.count(t, ""); got != 3 {
		t.Fatalf("stored %d events, want the 3 valid ones", got)
	}
	assertGapless(t, b.schema)
}

// waitUntil polls cond until it holds, failing the test if it does not
// within d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
