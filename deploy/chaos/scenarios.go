package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

// scenario is one numbered scenario of issue 14.
type scenario struct {
	n    int
	name string
	run  func(*suite, context.Context) result
}

var scenarios = []scenario{
	{1, "kill9", (*suite).killNine},
	{2, "pgrestart", (*suite).pgRestart},
	{3, "terminate", (*suite).terminateSessions},
	{4, "readonly", (*suite).readOnly},
	{5, "dup", (*suite).duplicates},
	{6, "hostile", (*suite).hostile},
	{7, "soak", (*suite).soakRun},
	{8, "replicas", (*suite).replicas},
}

// finish fills a result from the checks of schema against the ledger.
func (s *suite) finish(ctx context.Context, r *result, schema string, l *ledger) outcome {
	o := s.checkLog(ctx, schema, l.ackedIDs())
	r.acked, r.lost, r.dups = o.acked, o.lost, o.duplicates
	r.problems = append(r.problems, o.problems...)
	r.pass = o.ok() && o.verified && len(r.problems) == 0
	return o
}

// rebuildAndBackfill starts a rebuild of every table and a backfill of
// customers from the fake Orb API through sv's admin endpoints (scenario 9
// runs them during scenarios 1 and 2). 409 (already running) is fine.
func (s *suite) rebuildAndBackfill(sv *service) {
	_, _, _ = sv.admin("POST", "/admin/reproject", `{"all": true}`)
	_, _, _ = sv.admin("POST", "/admin/backfill?entity=customers&restart=true", "")
}

// waitJobs waits for sv's rebuild and backfill to finish and reports
// whether both ended without error.
func (s *suite) waitJobs(ctx context.Context, sv *service) (string, bool) {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		rp, err1 := sv.jobState("/admin/reproject")
		bf, err2 := sv.jobState("/admin/backfill")
		if err1 == nil && err2 == nil && !rp.Running && !bf.Running {
			return fmt.Sprintf("rebuild error %q; backfill error %q", rp.Error, bf.Error), rp.Error == "" && bf.Error == ""
		}
		if !sleep.For(ctx, 500*time.Millisecond) {
			break
		}
	}
	return "rebuild/backfill still running after 5m", false
}

// jobState is what GET /admin/reproject and /admin/backfill say about the
// process's job.
type jobState struct {
	Running bool   `json:"running"`
	Error   string `json:"error"`
}

func (sv *service) jobState(path string) (jobState, error) {
	code, body, err := sv.admin("GET", path, "")
	if err != nil {
		return jobState{}, err
	}
	if code != 200 {
		return jobState{}, fmt.Errorf("GET %s: %d", path, code)
	}
	var st jobState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return jobState{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return st, nil
}

// 1 (and 9): kill -9 of serve at random moments under load, restarted each
// time, with a rebuild and a backfill started after each restart.
func (s *suite) killNine(ctx context.Context) result {
	r := result{load: "8 senders, as fast as answered, 3-kind mix"}
	api := s.fakeOrbAPI()
	defer api.Close()
	sv, err := s.newService("kill9", "chaos_kill9", "ORB_API_KEY=chaos-key", "ORB_BASE_URL="+api.URL,
		"ORB_RECONCILE_INTERVAL=0", "ORB_REPAIR_INTERVAL=0", "ORB_REFETCH_INTERVAL=0")
	if err != nil {
		return failed(r, err)
	}
	if _, err := sv.start(ctx); err != nil {
		return failed(r, err)
	}
	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 8, entities: 200, seed: 1})
	kills := s.scaledN(6)
	var worst time.Duration
	for i := range kills {
		sleep.For(ctx, time.Duration(1500+rand.IntN(3500))*time.Millisecond)
		sv.kill9()
		down := time.Now()
		if _, err := sv.start(ctx); err != nil {
			ld.stop()
			return failed(r, err)
		}
		if i%2 == 0 {
			s.rebuildAndBackfill(sv)
		}
		if first := ld.ledger.firstAckAfter(down); !first.IsZero() {
			worst = max(worst, first.Sub(down))
		} else if waitAck(ctx, ld.ledger, down, 30*time.Second) {
			worst = max(worst, ld.ledger.firstAckAfter(down).Sub(down))
		}
	}
	sleep.For(ctx, 2*time.Second)
	l := ld.stop()
	s.rebuildAndBackfill(sv)
	jobs, jobsOK := s.waitJobs(ctx, sv)
	o := s.finish(ctx, &r, "chaos_kill9", l)
	sv.stop()
	if !jobsOK {
		r.pass = false
		r.problems = append(r.problems, "jobs: "+jobs)
	}
	snapshots := s.countSnapshots(ctx, "chaos_kill9")
	s.rebuildResult = append(s.rebuildResult, rebuildRun{during: "kill -9", ok: jobsOK && o.verified && snapshots > 0, detail: jobs, snapshots: snapshots})
	r.faults = fmt.Sprintf("%d × kill -9 at random 1.5-5 s intervals; rebuild of every table + customer backfill started after every other restart", kills)
	r.recovery = fmt.Sprintf("≤ %s to the first 2xx after a kill", worst.Round(10*time.Millisecond))
	r.figures = fmt.Sprintf("%d events in the log, verify %s", o.events, passWord(o.verified))
	return r
}

func waitAck(ctx context.Context, l *ledger, after time.Time, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !l.firstAckAfter(after).IsZero() {
			return true
		}
		if !sleep.For(ctx, 20*time.Millisecond) {
			return false
		}
	}
	return false
}

func passWord(ok bool) string {
	if ok {
		return "passed"
	}
	return "FAILED"
}

func failed(r result, err error) result {
	r.pass = false
	r.problems = append(r.problems, err.Error())
	return r
}

// 2 (and 9): PostgreSQL fast and immediate restarts under load, on the
// suite's own cluster.
func (s *suite) pgRestart(ctx context.Context) result {
	r := result{load: "8 senders, as fast as answered"}
	api := s.fakeOrbAPI()
	defer api.Close()
	sv, err := s.newService("pgrestart", "chaos_pgrestart", "ORB_API_KEY=chaos-key", "ORB_BASE_URL="+api.URL,
		"ORB_RECONCILE_INTERVAL=0", "ORB_REPAIR_INTERVAL=0", "ORB_REFETCH_INTERVAL=0")
	if err != nil {
		return failed(r, err)
	}
	if _, err := sv.start(ctx); err != nil {
		return failed(r, err)
	}
	defer sv.stop()
	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 8, entities: 200, seed: 2})
	modes := []string{"fast", "immediate", "fast", "immediate"}[:min(4, max(2, s.scaledN(4)))]
	var worst time.Duration
	codes := map[int]int{}
	for i, mode := range modes {
		sleep.For(ctx, 3*time.Second)
		if i == 0 || i == 1 {
			s.rebuildAndBackfill(sv)
			sleep.For(ctx, 500*time.Millisecond)
		}
		began := time.Now()
		if err := pglocal.RestartCluster(ctx, s.dataDir, mode); err != nil {
			ld.stop()
			return failed(r, fmt.Errorf("pg_ctl restart -m %s: %w", mode, err))
		}
		back := time.Now()
		for code, n := range ld.ledger.answersBetween(began, back) {
			codes[code] += n
		}
		if !waitAck(ctx, ld.ledger, back, 60*time.Second) {
			r.problems = append(r.problems, fmt.Sprintf("no 2xx within 60 s after the %s restart", mode))
			continue
		}
		worst = max(worst, ld.ledger.firstAckAfter(back).Sub(back))
	}
	sleep.For(ctx, 3*time.Second)
	l := ld.stop()
	s.rebuildAndBackfill(sv)
	jobs, jobsOK := s.waitJobs(ctx, sv)
	o := s.finish(ctx, &r, "chaos_pgrestart", l)
	if codes[503] == 0 {
		r.problems = append(r.problems, "no 503 seen while PostgreSQL was down")
		r.pass = false
	}
	for code, n := range codes {
		if code != 503 && code != 200 && code != 0 {
			r.problems = append(r.problems, fmt.Sprintf("%d × HTTP %d during outages", n, code))
			r.pass = false
		}
	}
	if !jobsOK {
		r.pass = false
		r.problems = append(r.problems, "jobs: "+jobs)
	}
	snapshots := s.countSnapshots(ctx, "chaos_pgrestart")
	s.rebuildResult = append(s.rebuildResult, rebuildRun{during: "PostgreSQL restarts", ok: jobsOK && o.verified && snapshots > 0, detail: jobs, snapshots: snapshots})
	r.faults = fmt.Sprintf("pg_ctl restart -m %s; rebuild + backfill running across the first two", strings.Join(modes, ", -m "))
	r.recovery = fmt.Sprintf("≤ %s from PostgreSQL back to the first 2xx", worst.Round(10*time.Millisecond))
	r.figures = fmt.Sprintf("answers while restarting: %d × 503, %d × 2xx (committed before the shutdown: every 2xx is checked in the log), %d × no answer; verify %s",
		codes[503], codes[200], codes[0], passWord(o.verified))
	return r
}

// 3: the service's sessions (projector lock, listener, pool) terminated
// from the database side every 2 s under load; the projector must never
// stall longer than the poll interval plus one round.
func (s *suite) terminateSessions(ctx context.Context) result {
	r := result{load: "4 senders at 300 events/s"}
	sv, err := s.startService(ctx, "terminate", "chaos_terminate")
	if err != nil {
		return failed(r, err)
	}
	defer sv.stop()
	pool, err := s.pool(ctx)
	if err != nil {
		return failed(r, err)
	}
	defer pool.Close()
	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 4, rate: 300, entities: 200, seed: 3})
	// Sample head and checkpoint every 50 ms: a stall is a stretch where
	// the checkpoint is behind the head and does not move.
	stalls := make(chan time.Duration, 1)
	sctx, stopSampling := context.WithCancel(ctx)
	go func() {
		var worst time.Duration
		var behindSince time.Time
		var last int64 = -1
		for sleep.For(sctx, 50*time.Millisecond) {
			var head, cp int64
			err := pool.QueryRow(sctx, sqlFiles.For("chaos_terminate").HeadAndSlowest).Scan(&head, &cp)
			if err != nil {
				continue
			}
			now := time.Now()
			switch {
			case cp >= head || cp != last:
				behindSince = time.Time{}
				if cp < head {
					behindSince = now
				}
			case !behindSince.IsZero():
				worst = max(worst, now.Sub(behindSince))
			}
			last = cp
		}
		stalls <- worst
	}()
	rounds := s.scaledN(15)
	killed := 0
	for range rounds {
		sleep.For(ctx, 2*time.Second)
		n, err := s.terminate(ctx, pool, "orb-sync")
		if err != nil {
			r.problems = append(r.problems, "terminating: "+err.Error())
		}
		killed += n
	}
	sleep.For(ctx, 2*time.Second)
	l := ld.stop()
	stopSampling()
	worst := <-stalls
	o := s.finish(ctx, &r, "chaos_terminate", l)
	// The designed bound: the poll interval (1 s: a lost listener is noticed
	// by polling), the pacer's widest gap between rounds while events
	// trickle in (PROJECTOR_ROUND_INTERVAL_MAX, 1 s), and one round (≤ 1 s here).
	const limit = 3 * time.Second
	if worst > limit {
		r.pass = false
		r.problems = append(r.problems, fmt.Sprintf("projector stalled %s behind the head (limit %s)", worst.Round(10*time.Millisecond), limit))
	}
	r.faults = fmt.Sprintf("%d sessions terminated in %d rounds, every 2 s", killed, rounds)
	r.recovery = fmt.Sprintf("longest projector stall behind the head %s (limit %s)", worst.Round(10*time.Millisecond), limit)
	r.figures = fmt.Sprintf("%d events, verify %s", o.events, passWord(o.verified))
	return r
}

// 4: the database turned read-only (default_transaction_read_only, new
// sessions), then writable again. Full disk is not simulated: it needs a
// size-limited filesystem (a mount) this suite cannot create unprivileged.
func (s *suite) readOnly(ctx context.Context) result {
	r := result{load: "4 senders at 200 events/s"}
	sv, err := s.startService(ctx, "readonly", "chaos_readonly")
	if err != nil {
		return failed(r, err)
	}
	defer sv.stop()
	pool, err := s.pool(ctx)
	if err != nil {
		return failed(r, err)
	}
	defer pool.Close()
	// One session opened before the switch stays writable, to switch back.
	admin, err := pool.Acquire(ctx)
	if err != nil {
		return failed(r, err)
	}
	defer admin.Release()
	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 4, rate: 200, entities: 100, seed: 4})
	sleep.For(ctx, 3*time.Second)
	if _, err := admin.Exec(ctx, "alter database postgres set default_transaction_read_only = on"); err != nil {
		ld.stop()
		return failed(r, err)
	}
	if _, err := s.terminate(ctx, pool, "orb-sync"); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	// Requests already past their commit when the sessions were
	// terminated may still be answered 2xx; the read-only window starts
	// at the first 503.
	if !waitCode(ctx, ld.ledger, time.Now(), 503, 30*time.Second) {
		r.problems = append(r.problems, "no 503 after the database turned read-only")
	}
	roStart := time.Now()
	sleep.For(ctx, s.scaled(10*time.Second))
	roEnd := time.Now()
	if _, err := admin.Exec(ctx, "alter database postgres reset default_transaction_read_only"); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	if _, err := s.terminate(ctx, pool, "orb-sync"); err != nil {
		r.problems = append(r.problems, err.Error())
	}
	back := time.Now()
	recovered := waitAck(ctx, ld.ledger, back, 60*time.Second)
	sleep.For(ctx, 2*time.Second)
	l := ld.stop()
	codes := l.answersBetween(roStart, roEnd)
	o := s.finish(ctx, &r, "chaos_readonly", l)
	if codes[200] > 0 || codes[503] == 0 || !recovered {
		r.pass = false
		r.problems = append(r.problems, fmt.Sprintf("read-only window: %d × 2xx, %d × 503; recovered: %v", codes[200], codes[503], recovered))
	}
	r.faults = "default_transaction_read_only = on for new sessions, service sessions terminated; then reset. Full disk: not simulated (needs a size-limited mount)"
	r.recovery = fmt.Sprintf("%s from writable again to the first 2xx", l.firstAckAfter(back).Sub(back).Round(10*time.Millisecond))
	r.figures = fmt.Sprintf("read-only window %s: %d × 503, %d × 2xx; verify %s", roEnd.Sub(roStart).Round(time.Second), codes[503], codes[200], passWord(o.verified))
	return r
}

func waitCode(ctx context.Context, l *ledger, after time.Time, code int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if l.answersBetween(after, time.Now())[code] > 0 {
			return true
		}
		if !sleep.For(ctx, 20*time.Millisecond) {
			return false
		}
	}
	return false
}

// 5: every event sent 1-3 times in shuffled order by 8 senders to one
// service, and once in order by a single sender to another (its own
// schema): one row per event, and every table equal.
func (s *suite) duplicates(ctx context.Context) result {
	n := s.scaledN(4000)
	r := result{load: fmt.Sprintf("%d distinct events about 100 entities per kind", n)}
	gen, err := webhooktest.New(100, 5)
	if err != nil {
		return failed(r, err)
	}
	events := make([]delivery, n)
	for i := range events {
		_, id, body := gen.Next(webhooktest.Kinds[i%len(webhooktest.Kinds)])
		events[i] = delivery{id: id, body: body}
	}
	var shuffled []delivery
	copies := 0
	rng := rand.New(rand.NewPCG(5, 5))
	for _, e := range events {
		for range 1 + rng.IntN(3) {
			shuffled = append(shuffled, e)
			copies++
		}
	}
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	dup, err := s.newService("dup", "chaos_dup")
	if err != nil {
		return failed(r, err)
	}
	ord, err := s.newService("ordered", "chaos_ordered")
	if err != nil {
		return failed(r, err)
	}
	for _, sv := range []*service{dup, ord} {
		if _, err := sv.start(ctx); err != nil {
			return failed(r, err)
		}
		defer sv.stop()
	}
	ledgerDup, ledgerOrd := newLedger(), newLedger()
	s.deliverAll(ctx, dup.url("/webhooks"), shuffled, 8, ledgerDup)
	s.deliverAll(ctx, ord.url("/webhooks"), events, 1, ledgerOrd)
	o := s.finish(ctx, &r, "chaos_dup", ledgerDup)
	oo := s.checkLog(ctx, "chaos_ordered", ledgerOrd.ackedIDs())
	r.problems = append(r.problems, oo.problems...)
	if o.events != n || oo.events != n {
		r.problems = append(r.problems, fmt.Sprintf("log rows: shuffled %d, in order %d, want %d each", o.events, oo.events, n))
	}
	differ, rows, err := s.sameTables(ctx, "chaos_dup", "chaos_ordered")
	if err != nil {
		r.problems = append(r.problems, err.Error())
	}
	if len(differ) > 0 {
		r.problems = append(r.problems, "tables differ: "+strings.Join(differ, ", "))
	}
	if rows == 0 {
		r.problems = append(r.problems, "the tables are empty: nothing was compared")
	}
	r.pass = len(r.problems) == 0 && o.ok()
	r.faults = fmt.Sprintf("%d deliveries (each event 1-3 times), shuffled, 8 senders", copies)
	r.recovery = "n/a"
	r.figures = fmt.Sprintf("%d log rows for %d events; %d table rows equal to in-order single delivery", o.events, n, rows)
	return r
}

// 8: two replicas on one schema under load; the projector leader killed
// with kill -9; the other must lead within seconds.
func (s *suite) replicas(ctx context.Context) result {
	r := result{load: "8 senders spread over both replicas"}
	a, err := s.newService("replica-a", "chaos_replicas")
	if err != nil {
		return failed(r, err)
	}
	b, err := s.newService("replica-b", "chaos_replicas")
	if err != nil {
		return failed(r, err)
	}
	for _, sv := range []*service{a, b} {
		if _, err := sv.start(ctx); err != nil {
			return failed(r, err)
		}
		defer sv.stop()
	}
	ld := s.startLoad(ctx, loadConfig{targets: []string{a.url("/webhooks"), b.url("/webhooks")}, senders: 8, entities: 200, seed: 8})
	var takeovers []time.Duration
	for range s.scaledN(3) {
		sleep.For(ctx, 5*time.Second)
		leader, follower := a, b
		if v, _ := b.metric("orb_projector_leader"); v == 1 {
			leader, follower = b, a
		}
		leader.kill9()
		killed := time.Now()
		took, ok := waitLeader(ctx, follower, 30*time.Second)
		if !ok {
			r.problems = append(r.problems, "no takeover within 30 s")
		}
		takeovers = append(takeovers, took)
		_ = killed
		if _, err := leader.start(ctx); err != nil {
			r.problems = append(r.problems, err.Error())
		}
	}
	sleep.For(ctx, 2*time.Second)
	l := ld.stop()
	o := s.finish(ctx, &r, "chaos_replicas", l)
	worst := longest(takeovers)
	if worst > 10*time.Second {
		r.pass = false
		r.problems = append(r.problems, fmt.Sprintf("takeover took %s", worst))
	}
	r.faults = fmt.Sprintf("%d × kill -9 of the projector leader (restarted after)", len(takeovers))
	r.recovery = fmt.Sprintf("takeover ≤ %s", worst.Round(10*time.Millisecond))
	r.figures = fmt.Sprintf("%d events, verify %s", o.events, passWord(o.verified))
	return r
}

func waitLeader(ctx context.Context, sv *service, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if v, err := sv.metric("orb_projector_leader"); err == nil && v == 1 {
			return time.Since(start), true
		}
		if !sleep.For(ctx, 20*time.Millisecond) {
			break
		}
	}
	return time.Since(start), false
}

func longest(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// countSnapshots counts the backfill's snapshot events in schema's log.
func (s *suite) countSnapshots(ctx context.Context, schema string) int {
	pool, err := s.pool(ctx)
	if err != nil {
		return -1
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(ctx, sqlFiles.For(schema).Snapshots).Scan(&n); err != nil {
		return -1
	}
	return n
}
