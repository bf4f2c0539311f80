package webhooktest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// Probe samples, while a phase runs, what the service under load costs:
// the resident memory and CPU of the serve process, and the CPU of the
// PostgreSQL backends serving its connections (found by matching the
// process's TCP sockets to pg_stat_activity.client_port, so other clients
// of a shared server are not counted). PostgreSQL's background processes
// (WAL writer, checkpointer, autovacuum) are shared and not counted. It
// reads /proc, so it works on Linux only, with PostgreSQL on this host
// reached over TCP.
type Probe struct {
	// ServePID is the process under load.
	ServePID int
	// DB reads pg_stat_activity and, if Schema is set, the projection lag.
	DB *pgxpool.Pool
	// Schema, if set, is the log whose head and slowest checkpoint are
	// sampled (the projection lag).
	Schema string
	// Every is the sampling interval; defaults to 250 ms.
	Every time.Duration
}

// Usage is what a Probe measured over one phase.
type Usage struct {
	MaxRSSBytes  int64
	ServeCPU     time.Duration
	PostgresCPU  time.Duration
	Backends     int   // serve's PostgreSQL backends seen
	MaxLagEvents int64 // head minus the slowest checkpoint, at worst
	EndLagEvents int64 // the same when the phase ended
}

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// sampling is a running Probe.
type sampling struct {
	probe Probe
	stop  chan struct{}
	done  chan struct{}

	mu        sync.Mutex
	usage     Usage
	serveCPU0 time.Duration
	backends  map[int]time.Duration // CPU at first sight (0 if born in the phase)
	latest    map[int]time.Duration
	err       error
}

// start begins sampling until stop is called.
func (p Probe) start(ctx context.Context) (*sampling, error) {
	if p.Every <= 0 {
		p.Every = 250 * time.Millisecond
	}
	s := &sampling{probe: p, stop: make(chan struct{}), done: make(chan struct{}),
		backends: map[int]time.Duration{}, latest: map[int]time.Duration{}}
	cpu, err := processCPU(p.ServePID)
	if err != nil {
		return nil, err
	}
	s.serveCPU0 = cpu
	if err := s.sample(ctx, true); err != nil {
		return nil, err
	}
	go s.run(ctx)
	return s, nil
}

func (s *sampling) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.probe.Every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.sample(ctx, false); err != nil && ctx.Err() == nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
		}
	}
}

// finish takes a last sample and returns the phase's usage.
func (s *sampling) finish(ctx context.Context) (Usage, error) {
	close(s.stop)
	<-s.done
	if s.err == nil {
		s.err = s.sample(ctx, false)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cpu, err := processCPU(s.probe.ServePID); err == nil {
		s.usage.ServeCPU = cpu - s.serveCPU0
	}
	s.usage.PostgresCPU = 0
	for pid, last := range s.latest {
		s.usage.PostgresCPU += last - s.backends[pid]
	}
	s.usage.Backends = len(s.latest)
	return s.usage, s.err
}

// sample reads memory, backend CPU and lag once. first marks the phase's
// start: backends seen later were born during the phase and count from 0.
func (s *sampling) sample(ctx context.Context, first bool) error {
	rss, err := processRSS(s.probe.ServePID)
	if err != nil {
		return err
	}
	pids, err := backendPIDs(ctx, s.probe.DB, s.probe.ServePID)
	if err != nil {
		return err
	}
	cpus := map[int]time.Duration{}
	for _, pid := range pids {
		if cpu, err := processCPU(pid); err == nil {
			cpus[pid] = cpu
		}
	}
	var lag int64
	if s.probe.Schema != "" {
		if lag, err = projectionLag(ctx, s.probe.DB, s.probe.Schema); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage.MaxRSSBytes = max(s.usage.MaxRSSBytes, rss)
	s.usage.MaxLagEvents = max(s.usage.MaxLagEvents, lag)
	s.usage.EndLagEvents = lag
	for pid, cpu := range cpus {
		if _, seen := s.backends[pid]; !seen {
			s.backends[pid] = 0
			if first {
				s.backends[pid] = cpu
			}
		}
		s.latest[pid] = cpu
	}
	return nil
}

// processRSS reads VmRSS from /proc/<pid>/status.
func processRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("process %d: no VmRSS in /proc/%d/status", pid, pid)
}

// processCPU reads user plus system CPU time from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	// The command name, in parentheses, may contain spaces: fields are
	// counted after its closing parenthesis (state is field 3).
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, fmt.Errorf("process %d: unexpected /proc/%d/stat", pid, pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("process %d: unexpected /proc/%d/stat", pid, pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(fields[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// queries are the probe's SQL, in sql/queries/eventlog/webhook/webhooktest/
// (see package sql for the scheme).
type queries struct {
	BackendPIDs   string `sql:"backend_pids"`
	ProjectionLag string `sql:"projection_lag"`
	SetHead       string `sql:"set_head"`
}

var sqlFiles = orbsql.MustQueries[queries]("eventlog/webhook/webhooktest")

// backendPIDs returns the PostgreSQL backends serving pid's connections.
func backendPIDs(ctx context.Context, db *pgxpool.Pool, pid int) ([]int, error) {
	ports, err := tcpPorts(pid)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, sqlFiles.For(orbsql.DefaultSchema).BackendPIDs, ports)
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	return pids, nil
}

// tcpPorts returns the local ports of pid's TCP sockets: its open socket
// inodes matched against the TCP tables of its network namespace.
func tcpPorts(pid int) ([]int32, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, fmt.Errorf("listing the sockets of process %d: %w", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(target, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	var ports []int32
	for _, table := range []string{"tcp", "tcp6"} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue // No IPv6, for one.
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if port, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports = append(ports, int32(port))
			}
		}
	}
	return ports, nil
}

// projectionLag is the log head minus the slowest checkpoint.
func projectionLag(ctx context.Context, db *pgxpool.Pool, schema string) (int64, error) {
	var lag int64
	err := db.QueryRow(ctx, sqlFiles.For(schema).ProjectionLag).Scan(&lag)
	if err != nil {
		return 0, fmt.Errorf("reading the projection lag: %w", err)
	}
	return lag, nil
}
