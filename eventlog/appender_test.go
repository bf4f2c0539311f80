package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func testEvent(id string) Event {
	body := eventBody(id, "customer.edited")
	env, err := ParseEnvelope(body)
	if err != nil {
		panic(err)
	}
	return Event{Envelope: env, Body: body}
}

func TestLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if _, err := b.appender.Append(context.Background(), testEvent("e1")); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"update %s.events set type = 'x'",
		"delete from %s.events",
		"truncate %s.events",
	} {
		_, err := b.schema.Pool.Exec(context.Background(), fmt.Sprintf(stmt, b.schema.Name))
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%q: err = %v, want append-only refusal", stmt, err)
		}
	}
	if b.count(t, "type = 'customer.edited'") != 1 {
		t.Error("the log changed")
	}
}

func TestAppendBatchDuplicatesWithinBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	res, err := b.appender.AppendBatch(context.Background(), []Event{testEvent("x"), testEvent("y"), testEvent("x")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Seq != 1 || res[1].Seq != 2 || !res[2].Duplicate {
		t.Fatalf("results = %+v", res)
	}
}

func TestAppendUnstorableIsIsolated(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	bad := testEvent("bad")
	// Valid JSON, but jsonb cannot hold a NUL character.
	bad.Body = []byte(`{"id":"bad","type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c","name":"\u0000"}}`)
	res, err := b.appender.AppendBatch(context.Background(), []Event{testEvent("good1"), bad, testEvent("good2")})
	var be *BatchError
	if !errors.As(err, &be) || !errors.Is(err, ErrUnstorable) {
		t.Fatalf("err = %v, want a BatchError wrapping ErrUnstorable", err)
	}
	if res[0].Seq == 0 || res[2].Seq == 0 || res[1].Seq != 0 {
		t.Fatalf("results = %+v", res)
	}
	assertGapless(t, b.schema)
}

// TestReaderNeverMissesOutOfOrderCommits shows why a reader may trust
// "everything after P": an append that got its position first but commits
// late holds back every later append (they wait on log_head), and one that
// rolls back leaves no hole. A reader polling "seq > checkpoint" while this
// happens sees every event exactly once.
func TestReaderNeverMissesOutOfOrderCommits(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	q := sqlFiles.For(b.schema.Name)

	// A slow transaction takes the next position and holds it open.
	slow, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cols, _, _ := newAppendColumns([]Event{testEvent("slow")})
	if _, err := slow.Exec(ctx, q.Append, cols.args()...); err != nil {
		t.Fatal(err)
	}

	// A fast append starts after it and would commit first with a sequence.
	fastDone := make(chan Result, 1)
	go func() {
		r, err := b.appender.Append(ctx, testEvent("fast"))
		if err != nil {
			t.Error(err)
		}
		fastDone <- r
	}()
	// Proven waiting, not merely slow: its session waits for the head lock.
	waitForHeadLockWaiter(t, b)
	select {
	case <-fastDone:
		t.Fatal("a later append committed while an earlier one was open")
	default:
	}
	if got := readAfter(t, b, 0); len(got) != 0 {
		t.Fatalf("reader saw %v before anything committed", got)
	}
	if err := slow.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-fastDone; r.Seq != 2 {
		t.Fatalf("fast append got seq %d, want 2", r.Seq)
	}
	if got := readAfter(t, b, 0); fmt.Sprint(got) != "[slow fast]" {
		t.Fatalf("reader saw %v", got)
	}

	// A rolled-back append leaves no hole behind it.
	rb, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cols, _, _ = newAppendColumns([]Event{testEvent("rolled_back")})
	if _, err := rb.Exec(ctx, q.Append, cols.args()...); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Roll back once the append below waits for the head lock.
		waitForHeadLockWaiter(t, b)
		_ = rb.Rollback(ctx)
	}()
	r, err := b.appender.Append(ctx, testEvent("after_rollback"))
	if err != nil || r.Seq != 3 {
		t.Fatalf("append after rollback: %+v, %v; want seq 3", r, err)
	}
	assertGapless(t, b.schema)
}

// TestConcurrentAppendersAndReader runs several appenders (as separate
// replicas would) against one log while a reader follows it by position
// only. The reader must see every committed event exactly once.
func TestConcurrentAppendersAndReader(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	const appenders, perAppender = 4, 160

	var wg sync.WaitGroup
	for w := range appenders {
		a, err := NewAppender(b.schema.Pool, AppenderConfig{Schema: b.schema.Name, MaxBatchEvents: 1 + w*7})
		if err != nil {
			t.Fatal(err)
		}
		a.Start()
		defer a.Stop()
		for g := range 4 {
			wg.Go(func() {
				for i := range perAppender / 4 {
					if _, err := a.Append(ctx, testEvent(fmt.Sprintf("w%d_g%d_%d", w, g, i))); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	seen := map[string]int{}
	var checkpoint int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		// One last read after every appender finished.
		rows, err := b.schema.Pool.Query(ctx, "select seq, event_id from "+b.schema.Name+".events where seq > $1 order by seq", checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var seq int64
			var id string
			if err := rows.Scan(&seq, &id); err != nil {
				t.Fatal(err)
			}
			if seq != checkpoint+1 {
				t.Fatalf("reader saw seq %d after %d: a hole", seq, checkpoint)
			}
			checkpoint = seq
			seen[id]++
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	if len(seen) != appenders*perAppender {
		t.Fatalf("reader saw %d distinct events, want %d", len(seen), appenders*perAppender)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("reader saw %s %d times", id, n)
		}
	}
}

func readAfter(t *testing.T, b *testBundle, after int64) []string {
	t.Helper()
	rows, err := b.schema.Pool.Query(context.Background(), "select event_id from "+b.schema.Name+".events where seq > $1 order by seq", after)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestGroupCommitAnswersEachEventOfAPartlyRefusedBatch queues a refused
// event among good ones: the good ones are acknowledged, the bad one is not.
func TestGroupCommitAnswersEachEventOfAPartlyRefusedBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	bad := testEvent("bad")
	bad.Body = []byte(`{"id":"bad","type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c","name":"\u0000"}}`)
	events := []Event{testEvent("g1"), bad, testEvent("g2"), testEvent("g3")}
	// A second appender, started only once all four are queued, so they
	// are certainly committed as one batch.
	a, err := NewAppender(b.schema.Pool, AppenderConfig{Schema: b.schema.Name})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	errs := make([]error, len(events))
	var wg sync.WaitGroup
	for i, ev := range events {
		wg.Go(func() { _, errs[i] = a.Append(context.Background(), ev) })
	}
	waitUntil(t, 10*time.Second, "all four events to be queued", func() bool { return len(a.queue) == len(events) })
	a.Start()
	wg.Wait()
	for i, err := range errs {
		if (i == 1) != errors.Is(err, ErrUnstorable) || (i != 1 && err != nil) {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got := b.count(t, ""); got != 3 {
		t.Fatalf("stored %d, want 3", got)
	}
}

// waitForHeadLockWaiter waits until a session of b's schema waits for the
// log head's row lock, failing the test if none does within 10 seconds.
func waitForHeadLockWaiter(t *testing.T, b *testBundle) {
	t.Helper()
	waitUntil(t, 10*time.Second, "an append to wait for the log head", func() bool {
		var n int
		err := b.schema.Pool.QueryRow(context.Background(), `select count(*) from pg_stat_activity
where wait_event_type = 'Lock' and query similar to '%' || $1 || '%(log_head|append_events)%'`, b.schema.Name).Scan(&n)
		if err != nil {
			t.Errorf("reading lock waits: %v", err)
			return true
		}
		return n > 0
	})
}

// TestAppendParsesBeforeTheHeadLock: the bodies are parsed into jsonb
// before the append waits for the log head, so that work overlaps another
// writer's insert and commit instead of lengthening them. An event jsonb
// refuses is answered while another transaction holds the head; were it
// parsed under the lock, the append would wait for the head instead.
func TestAppendParsesBeforeTheHeadLock(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	holder, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, sqlFiles.For(b.schema.Name).LockHead); err != nil {
		t.Fatal(err)
	}
	bad := testEvent("nul")
	bad.Body = []byte(`{"id":"nul","type":"customer.edited","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c","name":"\u0000"}}`)
	appendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = b.appender.AppendBatch(appendCtx, []Event{bad})
	if !errors.Is(err, ErrUnstorable) {
		t.Fatalf("append of an unstorable event while the head is held: %v, want ErrUnstorable at once", err)
	}
}
