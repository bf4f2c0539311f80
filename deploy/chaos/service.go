package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/sleep"
)

// service is one `orb-sync serve` process of the built binary, on
// loopback ports of its own. It can be killed and started again on the
// same ports.
type service struct {
	s         *suite
	name      string
	schema    string
	port      int
	adminPort int
	env       []string
	cmd       *exec.Cmd
	exited    chan struct{}
	starts    int
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newService prepares (does not start) a serve process on schema.
func (s *suite) newService(name, schema string, extraEnv ...string) (*service, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	env := []string{
		"DATABASE_URL=" + s.dbURL,
		"DATABASE_SCHEMA=" + schema,
		"ORB_WEBHOOK_SECRET=" + s.secret,
		"PORT=" + strconv.Itoa(port),
		"LISTEN_HOST=127.0.0.1",
		"ADMIN_LISTEN=127.0.0.1:" + strconv.Itoa(adminPort),
		"ADMIN_TOKEN=" + s.adminToken,
		"LOG_FORMAT=json",
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
	}
	return &service{s: s, name: name, schema: schema, port: port, adminPort: adminPort, env: append(env, extraEnv...)}, nil
}

// startService is newService and start: a scenario's service, ready for
// webhooks. The caller stops it.
func (s *suite) startService(ctx context.Context, name, schema string, extraEnv ...string) (*service, error) {
	sv, err := s.newService(name, schema, extraEnv...)
	if err != nil {
		return nil, err
	}
	if _, err := sv.start(ctx); err != nil {
		return nil, err
	}
	return sv, nil
}

// start starts the process and waits until /readyz answers 200.
func (sv *service) start(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	logPath := filepath.Join(sv.s.work, fmt.Sprintf("%s.%d.log", sv.name, sv.starts))
	sv.starts++
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(sv.s.bin, "serve")
	cmd.Env = sv.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return 0, fmt.Errorf("starting %s: %w", sv.name, err)
	}
	sv.cmd, sv.exited = cmd, make(chan struct{})
	exited := sv.exited
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	if err := sv.waitReady(ctx, 90*time.Second); err != nil {
		return 0, fmt.Errorf("%s (log %s): %w", sv.name, logPath, err)
	}
	return time.Since(began), nil
}

func (sv *service) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-sv.exited:
			return errors.New("exited before it was ready")
		default:
		}
		resp, err := client.Get(sv.url("/readyz"))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s", limit)
		}
		if !sleep.For(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// kill9 kills the process with SIGKILL: no drain, no cleanup.
func (sv *service) kill9() {
	if sv.cmd == nil {
		return
	}
	_ = sv.cmd.Process.Signal(syscall.SIGKILL)
	<-sv.exited
	sv.cmd = nil
}

// stop sends SIGTERM and waits for the drain.
func (sv *service) stop() {
	if sv.cmd == nil {
		return
	}
	_ = sv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sv.exited:
	case <-time.After(40 * time.Second):
		sv.kill9()
	}
	sv.cmd = nil
}

func (sv *service) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", sv.port, path)
}

func (sv *service) adminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", sv.adminPort, path)
}

// rssKiB is the process's resident set size, from /proc.
func (sv *service) rssKiB() int {
	if sv.cmd == nil {
		return 0
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", sv.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(rest)[0])
			return n
		}
	}
	return 0
}

// metric reads one unlabelled (or first matching) sample from the admin
// listener's /metrics.
func (sv *service) metric(name string) (float64, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(sv.adminURL("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		fields := strings.Fields(line)
		return strconv.ParseFloat(fields[len(fields)-1], 64)
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// admin sends an authorized request to the admin listener and returns
// the status code.
func (sv *service) admin(method, path, body string) (int, string, error) {
	req, err := http.NewRequest(method, sv.adminURL(path), strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+sv.s.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), nil
}
