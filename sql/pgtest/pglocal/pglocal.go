// Package pglocal is a development and test tool: it finds or starts a
// PostgreSQL server on this machine, for the test suite, for `make run`
// (orb-sync local-postgres) and for programs under deploy/ that need a
// throwaway server. It initializes clusters with trust authentication, so
// the service itself never calls it; it is never used when DATABASE_URL is
// set.
//
// Order: a server already answering on 127.0.0.1:5432 as user postgres;
// otherwise a throwaway cluster under the given directory, created with the
// installed PostgreSQL binaries (initdb, pg_ctl) and left running for the
// next caller.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server most developer machines (and CI here) already run.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ClusterPort is where a cluster started by Ensure listens.
const ClusterPort = 55432

// ErrNoPostgres says no server was found and none could be started.
var ErrNoPostgres = errors.New("no PostgreSQL server found and no PostgreSQL binaries to start one; install them (Debian: apt-get install postgresql) or set DATABASE_URL")

// Ensure returns the URL of a usable server, starting a cluster in dir if
// no server is reachable. Several processes may call it at once: they
// serialize on a lock file in dir and share one cluster.
func Ensure(ctx context.Context, dir string) (string, error) {
	if ping(ctx, DefaultURL) == nil {
		return DefaultURL, nil
	}
	clusterURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", ClusterPort)
	if ping(ctx, clusterURL) == nil {
		return clusterURL, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("opening lock file: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if ping(ctx, clusterURL) == nil { // Another process started it meanwhile.
		return clusterURL, nil
	}
	return StartCluster(ctx, filepath.Join(dir, "data"), ClusterPort)
}

// StartCluster initializes (once) and starts a cluster in dataDir listening
// on 127.0.0.1:port, and returns its URL once it answers. The cluster keeps
// running after the caller exits; StopCluster stops it.
func StartCluster(ctx context.Context, dataDir string, port int) (string, error) {
	if err := startCluster(ctx, dataDir, port); err != nil {
		return "", err
	}
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ping(ctx, url)
		if err == nil {
			return url, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("waiting for the local cluster: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopCluster stops a cluster started by StartCluster.
func StopCluster(ctx context.Context, dataDir string) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	runAs, err := clusterUser("")
	if err != nil {
		return err
	}
	return run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", dataDir, "-m", "fast", "-w", "stop")
}

// RestartCluster restarts a cluster started by StartCluster with pg_ctl's
// shutdown mode ("fast" or "immediate": a crash, recovered from WAL on
// start) and the options it was started with. The fault suite
// (deploy/chaos) uses it; it never touches a server it did not start.
func RestartCluster(ctx context.Context, dataDir, mode string) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	runAs, err := clusterUser("")
	if err != nil {
		return err
	}
	logPath := filepath.Join(filepath.Dir(dataDir), "server.log")
	return run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", dataDir, "-l", logPath, "-m", mode, "-w", "restart")
}

func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// startCluster initializes (once) and starts a cluster in dataDir. initdb
// refuses to run as root, so as root it runs as the postgres user.
func startCluster(ctx context.Context, dataDir string, port int) error {
	bin, err := binDir()
	if err != nil {
		return err
	}
	runAs, err := clusterUser(filepath.Dir(dataDir))
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		if err := run(ctx, runAs, filepath.Join(bin, "initdb"), "-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"); err != nil {
			return fmt.Errorf("initdb: %w", err)
		}
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c max_connections=200", port, filepath.Dir(dataDir))
	if err := run(ctx, runAs, filepath.Join(bin, "pg_ctl"), "-D", dataDir, "-l", filepath.Join(filepath.Dir(dataDir), "server.log"), "-o", opts, "-w", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w", err)
	}
	return nil
}

// binDir finds the newest installed PostgreSQL's binaries.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// clusterUser returns the user to run PostgreSQL as (nil: the current one),
// giving it dir when that is someone else.
func clusterUser(dir string) (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user for initdb: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if dir == "" {
		return u, nil
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		return nil, fmt.Errorf("handing %s to postgres: %w", dir, err)
	}
	return u, nil
}

func run(ctx context.Context, as *user.User, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if as != nil {
		uid, _ := strconv.Atoi(as.Uid)
		gid, _ := strconv.Atoi(as.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		cmd.Dir = "/"
	}
	// pg_ctl leaves the server running after it returns; don't tie the
	// server's output to our pipes, or we'd wait for it forever.
	logFile, err := os.CreateTemp("", "pglocal-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(logFile.Name())
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
