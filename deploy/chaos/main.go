// Command chaos is orb-sync's fault and soak suite: it builds orb-sync,
// starts a throwaway PostgreSQL cluster of its own, drives `orb-sync serve`
// with signed webhooks while recording every acknowledged event id, injects
// faults (kill -9, PostgreSQL restarts, terminated sessions, a read-only
// database, duplicates and shuffling, hostile input, a leader kill, a soak)
// and then checks the log and every table against that record. It prints
// one pass/fail line per scenario and rewrites the RELIABILITY section of
// the README with the figures.
//
//	go run ./deploy/chaos                 # everything, 10-minute soak (make chaos)
//	go run ./deploy/chaos -soak 1m -only kill9,dup
//
// All traffic stays on loopback; it never restarts or reconfigures a
// server it did not start.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

// config is the suite's command line.
type config struct {
	only     []string      // scenario names; all when empty
	soak     time.Duration // scenario 7's length
	scale    float64       // multiplies durations and counts (0.2 for a smoke run)
	readme   string        // README to rewrite; "" for none
	keep     bool          // keep the work directory
	stdout   io.Writer
	moduleAt string   // repository root, to build the binary
	args     []string // as given, for the report
}

// suite holds what every scenario shares: the binary, the cluster, the
// secrets and the results so far.
type suite struct {
	cfg        config
	work       string
	bin        string
	dataDir    string
	dbURL      string
	secret     string
	adminToken string
	results    []result

	rebuildResult []rebuildRun // scenario 9, from scenarios 1 and 2
	started       time.Time
	loadBefore    string
	pgVersion     string
	command       string
}

// result is one scenario's line in the report.
type result struct {
	n        int
	name     string
	pass     bool
	load     string
	faults   string
	acked    int
	lost     int
	dups     int
	recovery string
	figures  string
	problems []string
}

func main() {
	var cfg config
	var only string
	flag.StringVar(&only, "only", "", "comma-separated scenarios to run (kill9,pgrestart,terminate,readonly,dup,hostile,soak,replicas,rebuild); all when empty")
	flag.DurationVar(&cfg.soak, "soak", 10*time.Minute, "length of the soak scenario")
	flag.Float64Var(&cfg.scale, "scale", 1, "multiplies each scenario's length and counts (e.g. 0.2 for a quick run)")
	flag.StringVar(&cfg.readme, "readme", "README.md", "README whose RELIABILITY section is rewritten with the results (empty: none)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the work directory (binary, cluster, logs)")
	flag.Parse()
	cfg.args = os.Args[1:]
	if only != "" {
		cfg.only = strings.Split(only, ",")
	}
	cfg.stdout = os.Stdout
	cfg.moduleAt = "."
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run runs the suite and reports whether every scenario passed.
func run(ctx context.Context, cfg config) (bool, error) {
	if cfg.scale <= 0 {
		cfg.scale = 1
	}
	s := &suite{cfg: cfg, secret: "whsec_chaos_" + randomHex(12), adminToken: "chaos-admin-" + randomHex(12),
		started: time.Now(), loadBefore: loadAverage(), command: strings.Join(append([]string{"go run ./deploy/chaos"}, cfg.args...), " ")}
	var err error
	if s.work, err = os.MkdirTemp("", "orb-sync-chaos-"); err != nil {
		return false, err
	}
	if !cfg.keep {
		defer os.RemoveAll(s.work)
	}
	// As root, the cluster runs as the postgres user, who must reach it.
	if err := os.Chmod(s.work, 0o755); err != nil {
		return false, err
	}
	defer httpClient.CloseIdleConnections()
	defer hostileClient.CloseIdleConnections()
	fmt.Fprintf(cfg.stdout, "chaos: work directory %s\n", s.work)
	if err := s.build(ctx); err != nil {
		return false, err
	}
	if err := s.startCluster(ctx); err != nil {
		return false, err
	}
	defer s.stopCluster()

	for _, sc := range scenarios {
		if len(cfg.only) > 0 && !slices.Contains(cfg.only, sc.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		started := time.Now()
		r := sc.run(s, ctx)
		r.n, r.name = sc.n, sc.name
		if ctx.Err() != nil {
			r.pass = false
			r.problems = append(r.problems, "interrupted")
		}
		s.results = append(s.results, r)
		fmt.Fprintln(cfg.stdout, r.line(time.Since(started)))
		for _, p := range r.problems {
			fmt.Fprintln(cfg.stdout, "    ", p)
		}
	}
	if r, ok := s.rebuildLine(); ok {
		s.results = append(s.results, r)
		fmt.Fprintln(cfg.stdout, r.line(0))
		for _, p := range r.problems {
			fmt.Fprintln(cfg.stdout, "    ", p)
		}
	}
	if cfg.readme != "" && len(s.results) > 0 {
		if err := s.writeReport(cfg.readme); err != nil {
			return false, err
		}
	}
	for _, r := range s.results {
		if !r.pass {
			return false, nil
		}
	}
	return true, nil
}

func (r result) line(took time.Duration) string {
	verdict := "PASS"
	if !r.pass {
		verdict = "FAIL"
	}
	return fmt.Sprintf("%s %d %-9s acked=%d lost=%d dup=%d recovery=%s | %s | load: %s | faults: %s (%s)",
		verdict, r.n, r.name, r.acked, r.lost, r.dups, r.recovery, r.figures, r.load, r.faults, took.Round(time.Second))
}

// build compiles orb-sync from this checkout.
func (s *suite) build(ctx context.Context) error {
	s.bin = filepath.Join(s.work, "orb-sync")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "./cmd/orb-sync")
	cmd.Dir = s.cfg.moduleAt
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building orb-sync: %w: %s", err, out)
	}
	return nil
}

// startCluster initializes and starts a PostgreSQL cluster of the suite's
// own on a free loopback port: the only server it ever restarts.
func (s *suite) startCluster(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.dataDir = filepath.Join(s.work, "pg", "data")
	if err := os.MkdirAll(filepath.Dir(s.dataDir), 0o755); err != nil {
		return err
	}
	s.dbURL, err = pglocal.StartCluster(ctx, s.dataDir, port)
	if err != nil {
		return fmt.Errorf("starting the throwaway cluster: %w", err)
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pool.QueryRow(ctx, "select current_setting('server_version')").Scan(&s.pgVersion)
}

func (s *suite) stopCluster() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pglocal.StopCluster(ctx, s.dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: stopping the cluster:", err)
	}
}

// scaled multiplies a duration by the scale flag.
func (s *suite) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.scale)
}

func (s *suite) scaledN(n int) int { return max(1, int(float64(n)*s.cfg.scale)) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
