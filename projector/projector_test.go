package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/sql/pgtest"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// customerEvents returns n customer.edited events over 5 customers, with
// ids and times after from.
func customerEvents(t *testing.T, from, n int) []eventlog.Event {
	events := make([]eventlog.Event, n)
	for i := range n {
		c := customerObj(t, fmt.Sprintf("cus_%d", (from+i)%5))
		c["name"] = fmt.Sprintf("name %d", from+i)
		events[i] = event(t, fmt.Sprintf("evt_%05d", from+i), "customer.edited", at(from+i), map[string]any{"customer": c})
	}
	return events
}

func TestStartStopContract(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := New(b.schema.Pool, b.config(Config{}))
	if err != nil {
		t.Fatal(err)
	}
	p.Stop() // Before Start.
	p.Stop()
	if err := p.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("Start after Stop = %v", err)
	}

	if _, err := New(b.schema.Pool, Config{Schema: "Bad-Name"}); err == nil {
		t.Error("New accepted an invalid schema")
	}
	if _, err := New(b.schema.Pool, Config{Schema: b.schema.Name, BatchSize: -1}); err == nil {
		t.Error("New accepted a negative batch size")
	}

	empty := pgtest.NewEmptySchema(t) // Not migrated: Start must fail, synchronously.
	p, err = New(empty.Pool, Config{Schema: empty.Name, Logger: b.logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Error("Start succeeded without the migrations")
	}
	p.Stop()

	p = b.start(t, Config{})
	p.Stop()
	p.Stop()
}

// TestProjectsAppendsOnNotify: with a poll interval far longer than the
// test, appends are projected because NOTIFY rings the doorbell.
func TestProjectsAppendsOnNotify(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	p := b.start(t, Config{PollInterval: time.Hour, Metrics: NewMetrics(reg)})
	waitFor(t, "leadership", p.IsLeader)
	for i := range 5 {
		b.append(t, customerEvents(t, i*10, 10)...)
		b.waitCaughtUp(t)
	}
	if got := b.row(t, "customers", "cus_4")["name"]; got != "name 49" {
		t.Errorf("cus_4 name = %v", got)
	}
	if metricValue(t, reg, "orb_projector_wakeups_total", wakeNotify) == 0 {
		t.Error("no wake-up came from NOTIFY")
	}
	waitFor(t, "gauges", func() bool { return metricValue(t, reg, "orb_log_head_seq") == 50 })
	if metricValue(t, reg, "orb_projector_leader") != 1 || metricValue(t, reg, "orb_projection_events_applied_total", "customers") != 50 {
		t.Error("leader / applied metrics not recorded")
	}
}

// killBackends terminates this test's sessions with the given
// application_name and returns how many it killed.
func (b *testBundle) killBackends(t *testing.T, appName string) int {
	t.Helper()
	var n int
	err := b.schema.Pool.QueryRow(context.Background(),
		"select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = $1", appName).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// killListening terminates this test's listener once it listens (its
// LISTEN done), not while it reconnects: a kill then is a failed
// reconnect, retried, not one more reconnect.
func (b *testBundle) killListening(t *testing.T) int {
	t.Helper()
	var n int
	err := b.schema.Pool.QueryRow(context.Background(),
		`select count(pg_terminate_backend(pid)) from pg_stat_activity
		where application_name = $1 and state = 'idle' and query ilike 'listen %'`, b.appName+"-listener").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestListenerKilledMidStream kills the LISTEN connection while events keep
// coming. The poll timer is out of the picture (an hour), so delivery rests
// on the listener reconnecting, listening, and catching up.
func TestListenerKilledMidStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	p := b.start(t, Config{PollInterval: time.Hour, Metrics: NewMetrics(reg)})
	waitFor(t, "leadership", p.IsLeader)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.appender.AppendBatch(context.Background(), customerEvents(t, i*3, 3)); err != nil {
				t.Errorf("appending: %v", err)
				return
			}
		}
	})
	head := func() int64 {
		h, err := readHead(context.Background(), b.schema.Pool, b.schema.Name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for range 3 {
		h := head()
		waitFor(t, "more appends", func() bool { return head() >= h+30 })
		waitFor(t, "the listener", func() bool { return b.killListening(t) == 1 })
	}
	waitFor(t, "more appends", func() bool { return head() >= 120 })
	close(stop)
	wg.Wait()
	st := b.waitCaughtUp(t)
	waitFor(t, "3 reconnects", func() bool { return metricValue(t, reg, "orb_projector_listener_reconnects_total") >= 3 })
	if got, want := b.row(t, "customers", fmt.Sprintf("cus_%d", (st.Head-1)%5))["name"], fmt.Sprintf("name %d", st.Head-1); got != want {
		t.Errorf("last customer name = %v, want %v", got, want)
	}
}

// TestCrashBetweenApplyAndCheckpoint kills the batch's own connection after
// the rows and the checkpoint are written but before commit: nothing is
// kept, the batch is retried, and the result is as if nothing happened.
func TestCrashBetweenApplyAndCheckpoint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var killed atomic.Int32
	p, err := New(b.schema.Pool, b.config(Config{PollInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, projections []string) error {
		if !slices.Contains(projections, "subscription_alerts") || killed.Add(1) > 2 {
			return nil
		}
		_, err := tx.Exec(ctx, "select pg_terminate_backend(pg_backend_pid())")
		return err
	}
	var events []eventlog.Event
	for i := range 20 {
		events = append(events, event(t, fmt.Sprintf("evt_%02d", i), "subscription.usage_exceeded", at(i), map[string]any{
			"subscription": lightSubscription("sub_1", "cus_1", "plan_1"), "properties": alertProperties()}))
	}
	b.append(t, events...)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b.waitCaughtUp(t)
	if killed.Load() < 3 {
		t.Fatalf("the hook ran %d times", killed.Load())
	}
	if n := b.count(t, "subscription_alerts"); n != 20 {
		t.Errorf("%d alert rows, want 20", n)
	}
	b.checkRebuildMatches(t)
}

// TestStaleRunnerFails: a runner whose idea of the checkpoint is out of date
// fails its batch instead of applying it twice.
func TestStaleRunnerFails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, customerEvents(t, 0, 10)...)
	ctx := context.Background()
	p1 := b.drain(t, 100) // Applies (0, 10].
	target := p1.targets[0]
	round := []step{{target: target, from: 0, to: 10}} // Stale: still believes 0.
	if err := p1.applyRound(ctx, round); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(round[0].err, ErrCheckpointMoved) {
		t.Fatalf("stale batch = %v, want ErrCheckpointMoved", round[0].err)
	}
	tx, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := advanceCheckpoint(ctx, tx, b.schema.Name, "customers", 0, 10); !errors.Is(err, ErrCheckpointMoved) {
		t.Fatalf("stale compare-and-set = %v", err)
	}
}

// TestLeaderFailover runs two instances: one leads; when its lock
// connection is killed, exactly one leads again (whichever asks first: the
// killed one reconnects at once) and nothing is lost; when the leader
// stops, the other takes over.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.start(t, Config{ApplicationName: b.appName + "a"})
	c := b.start(t, Config{ApplicationName: b.appName + "c"})
	names := map[*Projector]string{a: b.appName + "a", c: b.appName + "c"}
	leader := func() *Projector {
		var l *Projector
		waitFor(t, "exactly one leader", func() bool {
			switch {
			case a.IsLeader() && !c.IsLeader():
				l = a
			case c.IsLeader() && !a.IsLeader():
				l = c
			default:
				return false
			}
			return true
		})
		return l
	}
	other := func(p *Projector) *Projector {
		if p == a {
			return c
		}
		return a
	}
	first := leader()
	b.append(t, customerEvents(t, 0, 10)...)
	if st := b.waitCaughtUp(t); st.Leader != names[first]+"-leader" {
		t.Errorf("status names leader %q, want %q", st.Leader, names[first]+"-leader")
	}

	if b.killBackends(t, names[first]+"-leader") != 1 {
		t.Fatal("no lock connection to kill")
	}
	b.append(t, customerEvents(t, 10, 10)...)
	b.waitCaughtUp(t)
	second := leader()

	second.Stop()
	waitFor(t, "the other instance to lead", other(second).IsLeader)
	b.append(t, customerEvents(t, 20, 10)...)
	b.waitCaughtUp(t)
	if got := b.row(t, "customers", "cus_4")["name"]; got != "name 29" {
		t.Errorf("cus_4 name = %v", got)
	}
}

// TestDatabaseOutage cuts every projector connection (as a server restart
// would) while events keep being appended through another path: once the
// database is back, everything is projected.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	proxy, url := pgtest.NewProxy(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	p, err := New(pool, b.config(Config{PollInterval: 100 * time.Millisecond, PingInterval: 200 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b.append(t, customerEvents(t, 0, 10)...)
	b.waitCaughtUp(t)

	proxy.Break()
	waitFor(t, "leadership to end", func() bool { return !p.IsLeader() })
	b.append(t, customerEvents(t, 10, 10)...) // The appender's pool is not behind the proxy.
	proxy.Heal()
	b.waitCaughtUp(t)
	if got := b.row(t, "customers", "cus_4")["name"]; got != "name 19" {
		t.Errorf("cus_4 name = %v", got)
	}
}

// TestUnknownTypesAndFieldsAreCounted: an unknown event type and an unknown
// field stay in the log, change nothing, and show in the metrics.
func TestUnknownTypesAndFieldsAreCounted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := customerObj(t, "cus_1")
	c["shiny_new_field"] = map[string]any{"x": 1}
	b.append(t,
		event(t, "evt_1", "customer.edited", at(1), map[string]any{"customer": c}),
		event(t, "evt_2", "brand_new.thing_happened", at(2), map[string]any{"thing": map[string]any{"id": "x"}}),
		event(t, "evt_3", "resource_event.test", at(3), nil),
	)
	reg := prometheus.NewRegistry()
	p, err := New(b.schema.Pool, b.config(Config{Metrics: NewMetrics(reg)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	b.waitCaughtUp(t)
	if b.row(t, "customers", "cus_1")["name"] != "test org local" {
		t.Error("customer not projected")
	}
	if got := metricValue(t, reg, "orb_projector_unknown_event_types_total", "brand_new.thing_happened"); got != 1 {
		t.Errorf("unknown type counted %v times", got)
	}
	if got := metricValue(t, reg, "orb_projector_unknown_event_types_total", "resource_event.test"); got != 0 {
		t.Errorf("known ignored type counted as unknown (%v)", got)
	}
	if got := metricValue(t, reg, "orb_projection_unknown_fields_total", "customers", "shiny_new_field"); got != 1 {
		t.Errorf("unknown field counted %v times", got)
	}
}

// TestShadowSwapRecipe follows the package doc's re-projection recipe while
// a projector runs: build a shadow table up to H, swap it in under the
// checkpoint lock, and the live projector keeps writing to the new table.
func TestShadowSwapRecipe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(t, Config{})
	b.append(t, customerEvents(t, 0, 20)...)
	b.waitCaughtUp(t)
	ctx := context.Background()
	s := b.schema.Name
	live, next := pgx.Identifier{s, "customers"}.Sanitize(), pgx.Identifier{s, "customers_next"}.Sanitize()
	if _, err := b.schema.Pool.Exec(ctx, "create table "+next+" (like "+live+" including all)"); err != nil {
		t.Fatal(err)
	}
	target, err := fold.Compile(ctx, b.schema.Pool, s, "customers", "customers_next")
	if err != nil {
		t.Fatal(err)
	}
	head, err := readHead(ctx, b.schema.Pool, s)
	if err != nil {
		t.Fatal(err)
	}
	build := func(from, to int64) {
		tx, err := b.schema.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := target.Apply(ctx, tx, from, to); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	build(0, head)
	b.append(t, customerEvents(t, 20, 10)...) // Arrives during the build.

	tx, err := b.schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	cp, err := LockCheckpoint(ctx, tx, s, "customers")
	if err != nil {
		t.Fatal(err)
	}
	upTo := max(cp.Seq, head)
	if _, err := target.Apply(ctx, tx, head, upTo); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"alter table " + live + " rename to customers_old",
		"alter table " + next + " rename to customers",
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetCheckpoint(ctx, tx, s, "customers", upTo, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b.append(t, customerEvents(t, 30, 10)...)
	b.waitCaughtUp(t)
	if got := b.row(t, "customers", "cus_4")["name"]; got != "name 39" {
		t.Errorf("after the swap cus_4 name = %v, want name 39", got)
	}
	if !p.IsLeader() {
		t.Error("the projector stopped leading")
	}
}

// TestBrokenProjectionDoesNotStallOthers: a projection that cannot run at
// all (its table lost a column the SQL names) fails alone.
func TestBrokenProjectionDoesNotStallOthers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p, err := New(b.schema.Pool, b.config(Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.schema.Pool.Exec(ctx, "alter table "+pgx.Identifier{b.schema.Name, "customers"}.Sanitize()+" drop column email"); err != nil {
		t.Fatal(err)
	}
	b.append(t, customerEvents(t, 0, 3)...)
	b.append(t, event(t, "evt_inv", "invoice.issued", at(9), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}))
	if err := p.catchUp(ctx); err == nil {
		t.Fatal("catchUp hid the broken projection")
	}
	b.row(t, "invoices", "inv_1")
	st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range st.Projections {
		want := st.Head
		if ps.Projection == "customers" {
			want = 0
		}
		if ps.Checkpoint != want {
			t.Errorf("%s checkpoint %d, want %d", ps.Projection, ps.Checkpoint, want)
		}
	}
}

// TestPollOnly: without LISTEN, the poll timer alone delivers.
func TestPollOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	b.start(t, Config{PollOnly: true, PollInterval: 50 * time.Millisecond, Metrics: NewMetrics(reg)})
	b.append(t, customerEvents(t, 0, 5)...)
	b.waitCaughtUp(t)
	if metricValue(t, reg, "orb_projector_wakeups_total", wakeNotify) != 0 || b.killBackends(t, b.appName+"-listener") != 0 {
		t.Error("a poll-only projector listened")
	}
}

// TestLockSessionDropDoesNotWaitForAnElection: the only replica's lock
// session is terminated from the database side (a failover, a pooler);
// it leads again and applies new events at once, not after an election
// interval (an hour here, so any such wait fails the test). Before the fix
// it stepped back two election intervals: 3.7–4.5 s with the defaults.
func TestLockSessionDropDoesNotWaitForAnElection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(t, Config{ElectInterval: time.Hour, PollInterval: 100 * time.Millisecond})
	waitFor(t, "leadership", p.IsLeader)
	for round := range 3 {
		if b.killBackends(t, b.appName+"-leader") != 1 {
			t.Fatalf("round %d: no lock session to kill", round)
		}
		b.append(t, customerEvents(t, round*2, 2)...)
		b.waitCaughtUp(t)
		waitFor(t, "leadership again", p.IsLeader)
	}
}

// TestNewLeadForgetsBackoff: a round that fails because the sessions were
// cut (the lock's among them) must not hold the next lead back. The
// runner's backoff used to carry over from lead to lead and double with
// each cut, so a projector whose sessions were terminated every few
// seconds waited up to 30 s between rounds and fell ever further behind.
func TestNewLeadForgetsBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := New(b.schema.Pool, b.config(Config{PollInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	const cuts = 4
	var rounds atomic.Int32
	var delays []time.Duration // Read by the runner goroutine only, until caught up.
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		if rounds.Add(1) > cuts {
			return nil
		}
		delays = append(delays, p.runnerBackoff.delay)
		if _, err := b.schema.Pool.Exec(context.Background(),
			"select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", b.appName+"-leader"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "select pg_terminate_backend(pg_backend_pid())")
		return err
	}
	b.append(t, customerEvents(t, 0, 10)...)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b.waitCaughtUp(t)
	if got := rounds.Load(); got <= cuts {
		t.Fatalf("%d rounds, want more than the %d cut", got, cuts)
	}
	for i, d := range delays {
		if d != 0 {
			t.Errorf("round %d ran under a new lead with the last lead's backoff %s (all: %v)", i+1, d, delays)
			break
		}
	}
}

// TestRoundThatDidNotCommitShrinks: a round cut before its commit is
// retried at half its size, so a backlog whose round takes longer than
// the sessions last still moves. Retried whole, it never committed while
// sessions were terminated every 2 s (chaos terminate), and grew.
func TestRoundThatDidNotCommitShrinks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := New(b.schema.Pool, b.config(Config{PollInterval: 50 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	const cuts = 3
	var rounds atomic.Int32
	var limits []int // Read by the runner goroutine only, until caught up.
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		if rounds.Add(1) > cuts {
			return nil
		}
		limits = append(limits, p.batchLimit("customers"))
		_, err := tx.Exec(ctx, "select pg_terminate_backend(pg_backend_pid())")
		return err
	}
	b.append(t, customerEvents(t, 0, 64)...)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	b.waitCaughtUp(t)
	if want := []int{p.cfg.BatchSize, 32, 16}; !slices.Equal(limits, want) {
		t.Errorf("customers' batch limit in the cut rounds = %v, want %v", limits, want)
	}
	b.checkRebuildMatches(t)
}
