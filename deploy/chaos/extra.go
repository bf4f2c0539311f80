package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
)

// rebuildRun is one rebuild-and-backfill run of scenario 9.
type rebuildRun struct {
	during    string
	ok        bool
	detail    string
	snapshots int // backfilled customers' snapshot events in the log
}

// fakeOrbAPI serves GET /customers as Orb's API does (one page of 300
// customers), so a backfill has something to read. Loopback only.
func (s *suite) fakeOrbAPI() *httptest.Server {
	customers := make([]map[string]any, 300)
	created := time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC)
	for i := range customers {
		customers[i] = map[string]any{
			"id": fmt.Sprintf("cus_bf_%d", i), "external_customer_id": fmt.Sprintf("ext_%d", i),
			"name": fmt.Sprintf("Backfilled %d", i), "email": fmt.Sprintf("c%d@example.com", i),
			"balance": "0.00", "currency": "USD", "metadata": map[string]any{}, "timezone": "UTC",
			"created_at": created.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": customers,
			"pagination_metadata": map[string]any{"has_more": false, "next_cursor": nil}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{},
			"pagination_metadata": map[string]any{"has_more": false, "next_cursor": nil}})
	})
	return httptest.NewServer(mux)
}

// rebuildLine is scenario 9's result, from the rebuilds and backfills run
// during scenarios 1 and 2.
func (s *suite) rebuildLine() (result, bool) {
	if len(s.rebuildResult) == 0 {
		return result{}, false
	}
	r := result{n: 9, name: "rebuild", pass: true, load: "that of scenarios 1 and 2", recovery: "n/a", acked: 0}
	var parts []string
	for _, run := range s.rebuildResult {
		if !run.ok {
			r.pass = false
			r.problems = append(r.problems, run.during+": "+run.detail)
		}
		parts = append(parts, fmt.Sprintf("during %s: rebuilds and backfill finished (%d customer snapshots of 300 in the log), verify %s",
			run.during, run.snapshots, passWord(run.ok)))
	}
	r.faults = "POST /admin/reproject {\"all\":true} and /admin/backfill?entity=customers during kill -9 and PostgreSQL restarts"
	r.figures = strings.Join(parts, "; ")
	r.acked, r.lost, r.dups = -1, 0, 0
	return r, true
}

// 7: a soak at half the measured peak rate: RSS and goroutines flat,
// latency stable, lag bounded.
func (s *suite) soakRun(ctx context.Context) result {
	r := result{}
	sv, err := s.startService(ctx, "soak", "chaos_soak")
	if err != nil {
		return failed(r, err)
	}
	defer sv.stop()
	// Peak: 16 senders as fast as answered for 15 s.
	peakLoad := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 16, entities: 500, seed: 70})
	peakStart := time.Now()
	sleep.For(ctx, 15*time.Second)
	peakLedger := peakLoad.stop()
	peak := float64(len(peakLedger.ackedIDs())) / time.Since(peakStart).Seconds()
	rate := peak / 2
	pool, err := s.pool(ctx)
	if err != nil {
		return failed(r, err)
	}
	defer pool.Close()
	if err := s.waitProjected(ctx, pool, "chaos_soak", 2*time.Minute); err != nil {
		r.problems = append(r.problems, err.Error())
	}

	ld := s.startLoad(ctx, loadConfig{targets: []string{sv.url("/webhooks")}, senders: 8, rate: rate, entities: 500, seed: 71})
	type sample struct {
		at         time.Time
		rssKiB     int
		goroutines float64
		lag        int64
	}
	var samples []sample
	start := time.Now()
	for time.Since(start) < s.cfg.soak && ctx.Err() == nil {
		sleep.For(ctx, 5*time.Second)
		g, _ := sv.metric("go_goroutines")
		lag, _ := projectionLag(ctx, pool, "chaos_soak")
		samples = append(samples, sample{time.Now(), sv.rssKiB(), g, lag})
	}
	l := ld.stop()
	for _, id := range peakLedger.ackedIDs() {
		l.acked[id]++
	}
	o := s.finish(ctx, &r, "chaos_soak", l)
	if len(samples) < 6 {
		r.problems = append(r.problems, "too few samples")
		r.pass = false
		return r
	}
	third := len(samples) / 3
	first, last := samples[:third], samples[len(samples)-third:]
	maxOf := func(ss []sample, f func(sample) float64) float64 {
		m := 0.0
		for _, x := range ss {
			m = max(m, f(x))
		}
		return m
	}
	rss := func(x sample) float64 { return float64(x.rssKiB) / 1024 }
	gor := func(x sample) float64 { return x.goroutines }
	lagf := func(x sample) float64 { return float64(x.lag) }
	rss1, rss3 := maxOf(first, rss), maxOf(last, rss)
	g1, g3 := maxOf(first, gor), maxOf(last, gor)
	maxLag := maxOf(samples, lagf)
	p99first := percentile(l.latencies(first[0].at.Add(-5*time.Second), first[len(first)-1].at), 0.99)
	p99last := percentile(l.latencies(last[0].at.Add(-5*time.Second), last[len(last)-1].at), 0.99)
	p50 := percentile(l.latencies(start, time.Now()), 0.5)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			r.pass = false
			r.problems = append(r.problems, fmt.Sprintf(format, args...))
		}
	}
	check(rss3 <= rss1*1.25+8, "RSS grew: %.0f MB in the first third, %.0f MB in the last", rss1, rss3)
	check(g3 <= g1+10, "goroutines grew: %.0f → %.0f", g1, g3)
	// Stable latency: the median of the last third within twice the
	// first's. The p99 is reported; on a shared machine it follows the
	// neighbours' load more than ours.
	p50first := percentile(l.latencies(first[0].at.Add(-5*time.Second), first[len(first)-1].at), 0.5)
	p50last := percentile(l.latencies(last[0].at.Add(-5*time.Second), last[len(last)-1].at), 0.5)
	check(p50last <= 2*p50first+5*time.Millisecond, "median latency grew: %s → %s", p50first, p50last)
	check(maxLag <= 5*rate, "projection lag reached %.0f events (> 5 s of load)", maxLag)
	r.load = fmt.Sprintf("%.0f events/s = half the measured peak of %.0f/s (16 senders), 8 senders, %s", rate, peak, s.cfg.soak)
	r.faults = "none (soak)"
	r.recovery = "n/a"
	r.figures = fmt.Sprintf("RSS %.0f → %.0f MB, goroutines %.0f → %.0f (max of first vs last third); latency p50 %s → %s, p99 %s → %s (first vs last third; whole run p50 %s); max lag %.0f events; verify %s",
		rss1, rss3, g1, g3, r3(p50first), r3(p50last), r3(p99first), r3(p99last), r3(p50), maxLag, passWord(o.verified))
	return r
}

func r3(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
