package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkReferenceWorkload runs issue 10's workload (webhooktest.Workload:
// seed, then 1, 8 and 32 senders) against a fresh `orb-sync serve` process
// on a fresh schema, with the projector and ingest-only, at a small size so
// that CI keeps the method working. The real measurement is
// eventlog/webhook/webhooktest/reference.sh (README, "Performance"); sizes here come
// from ORB_BENCH_ENTITIES (default 30 per kind) and ORB_BENCH_PHASE
// (default 1s).
func BenchmarkReferenceWorkload(b *testing.B) {
	entities := 30
	if v, err := fmt.Sscan(os.Getenv("ORB_BENCH_ENTITIES"), &entities); v != 1 || err != nil {
		entities = 30
	}
	phase, err := time.ParseDuration(os.Getenv("ORB_BENCH_PHASE"))
	if err != nil {
		phase = time.Second
	}
	for _, mode := range []string{"default", "ingest-only"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				reports := runReferenceOnce(b, mode == "default", webhooktest.Workload{
					Entities: entities, PhaseDuration: phase, Settle: 200 * time.Millisecond})
				for _, r := range reports[1:] {
					b.ReportMetric(r.PerSecond(), fmt.Sprintf("req/s@%d", r.Senders))
					b.ReportMetric(float64(r.P99.Microseconds())/1000, fmt.Sprintf("p99-ms@%d", r.Senders))
				}
				last := reports[len(reports)-1]
				b.ReportMetric(float64(last.Usage.MaxRSSBytes)/(1<<20), "rss-MB")
			}
		})
	}
}

// runReferenceOnce starts serve on a new schema, runs w against it with
// the probe on, and stops serve.
func runReferenceOnce(b *testing.B, projector bool, w webhooktest.Workload) []webhooktest.PhaseReport {
	b.StopTimer()
	s := pgtest.NewEmptySchema(b)
	port := freePort(b)
	cmd := exec.Command(os.Args[0], "serve", "--port", fmt.Sprint(port), "--listen-host", "127.0.0.1")
	cmd.Env = append(os.Environ(), "ORB_SYNC_TEST_MAIN=1", "DATABASE_URL="+s.URL, "DATABASE_SCHEMA="+s.Name,
		"ORB_WEBHOOK_SECRET=bench", "LOG_LEVEL=warn", "ADMIN_LISTEN=off", fmt.Sprintf("PROJECTOR_ENABLED=%t", projector))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(b, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	w.URL, w.Secret = base+"/webhooks", "bench"
	w.Probe = webhooktest.Probe{ServePID: cmd.Process.Pid, DB: s.Pool, Schema: s.Name}
	b.StartTimer()
	reports, err := webhooktest.RunWorkload(context.Background(), w, func(r webhooktest.PhaseReport) { b.Log(r) })
	if err != nil {
		b.Fatal(err)
	}
	return reports
}
