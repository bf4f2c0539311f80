package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
)

// distinctCustomers returns n customer.edited events, one per customer, so
// a batch writes as many rows as it has events.
func distinctCustomers(t *testing.T, from, n int) []eventlog.Event {
	events := make([]eventlog.Event, n)
	for i := range n {
		c := customerObj(t, fmt.Sprintf("cus_d%d", from+i))
		events[i] = event(t, fmt.Sprintf("evt_d%05d", from+i), "customer.edited", at(from+i), map[string]any{"customer": c})
	}
	return events
}

// exec runs statements in the test's schema ({{s}} is the schema).
func (b *testBundle) exec(t *testing.T, sql string) {
	t.Helper()
	sql = strings.ReplaceAll(sql, "{{s}}", pgx.Identifier{b.schema.Name}.Sanitize())
	if _, err := b.schema.Pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// TestRoundsFollowEventsNotCommits: a stream of one-event commits, each
// ringing the doorbell, is applied in rounds at most one per RoundInterval,
// not one per commit.
func TestRoundsFollowEventsNotCommits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	const interval = 300 * time.Millisecond
	p := b.start(t, Config{PollInterval: time.Hour, RoundInterval: interval, Metrics: NewMetrics(reg)})
	waitFor(t, "leadership", p.IsLeader)
	b.waitCaughtUp(t)
	start := time.Now()
	for _, ev := range distinctCustomers(t, 0, 60) {
		b.append(t, ev)
	}
	b.waitCaughtUp(t)
	elapsed := time.Since(start)
	batches := metricValue(t, reg, "orb_projection_batch_seconds", "customers")
	// One round may start at once, then one per interval.
	if limit := float64(elapsed/interval) + 2; batches > limit {
		t.Errorf("60 commits in %s were applied in %.0f batches, want at most %.0f (one per %s)", elapsed, batches, limit, interval)
	}
	if wakes := metricValue(t, reg, "orb_projector_wakeups_total", wakeNotify); wakes < batches {
		t.Errorf("%.0f notify wake-ups for %.0f batches: the test did not ring more often than rounds ran", wakes, batches)
	}
	if got := b.count(t, "customers"); got != 60 {
		t.Errorf("%d customers, want 60", got)
	}
}

// TestFailingBatchBacksOff: a projection whose batch keeps failing is
// retried on its own backoff, not at the rate commits ring the doorbell,
// and the other projections go on.
func TestFailingBatchBacksOff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.exec(t, `create function {{s}}.refuse() returns trigger language plpgsql as $$
begin raise exception 'refused by test'; end $$;
create trigger refuse before insert or update on {{s}}.customers for each row execute function {{s}}.refuse()`)
	reg := prometheus.NewRegistry()
	p := b.start(t, Config{PollInterval: 200 * time.Millisecond, RoundInterval: 10 * time.Millisecond, Metrics: NewMetrics(reg)})
	waitFor(t, "leadership", p.IsLeader)
	start := time.Now()
	for i := range 100 {
		b.append(t, distinctCustomers(t, i, 1)...)
		b.append(t, event(t, fmt.Sprintf("evt_p%03d", i), "plan.edited", at(i), map[string]any{"plan": map[string]any{"id": "plan_1", "name": fmt.Sprintf("plan %d", i)}}))
		time.Sleep(10 * time.Millisecond) // Pace the commits: each rings the doorbell.
	}
	elapsed := time.Since(start)
	waitFor(t, "plans caught up", func() bool {
		st, err := ReadStatus(context.Background(), b.schema.Pool, b.schema.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range st.Projections {
			if ps.Projection == "plans" {
				return ps.Checkpoint == st.Head
			}
		}
		return false
	})
	errs := metricValue(t, reg, "orb_projection_batch_errors_total", "customers")
	// Backoff from the poll interval, doubling: 0.2 + 0.4 + 0.8 + ... s.
	limit := 2 + float64(elapsed)/float64(200*time.Millisecond)/2
	if errs < 1 || errs > limit {
		t.Errorf("customers failed %.0f times in %s of commits, want between 1 and %.0f", errs, elapsed, limit)
	}
	if metricValue(t, reg, "orb_projector_wakeups_total", wakeNotify) < 3*errs {
		t.Error("the doorbell did not ring much more often than the failing batch was retried")
	}
}

// TestBatchShrinksOnStatementTimeout: a batch that cannot finish within
// the pool's statement_timeout is retried with smaller batches instead of
// failing forever on the same range. Each customer row takes 20 ms to
// write (a trigger), so the first batch of 64 needs 1.3 s against a 300 ms
// timeout.
func TestBatchShrinksOnStatementTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.exec(t, `create function {{s}}.slow() returns trigger language plpgsql as $$
begin perform pg_sleep(0.02); return new; end $$;
create trigger slow before insert or update on {{s}}.customers for each row execute function {{s}}.slow()`)
	b.append(t, distinctCustomers(t, 0, 64)...)
	cfg := b.schema.Pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "300"
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg := prometheus.NewRegistry()
	p, err := New(pool, b.config(Config{BatchSize: 1000, Metrics: NewMetrics(reg)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b.waitCaughtUp(t)
	if got := b.count(t, "customers"); got != 64 {
		t.Errorf("%d customers, want 64", got)
	}
	if metricValue(t, reg, "orb_projection_batch_errors_total", "customers") == 0 {
		t.Error("no batch hit the timeout: the test did not test shrinking")
	}
}
