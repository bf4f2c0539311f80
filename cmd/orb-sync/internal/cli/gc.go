package cli

import (
	"errors"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// GC settings for serve, unless the operator set GOGC or GOMEMLIMIT. The
// ack path allocates every request body (up to ~54 KB for a subscription)
// and with the default GOGC=100 the collector ran about 12% of the process's
// CPU under load. With GOGC=400, at 32 senders with the projector in the
// process: 2,253–2,366 → 2,677–3,112 req/s and p99 27 → 20–24 ms, at 37–46
// MB RSS (orb-sync loadgen, README "Performance"). Since then the ack path
// allocates less per request (a body is read into a buffer of its size, and
// the append sends a batch's bodies as one value instead of an array pgx
// grows element by element), and the heap the collector lets grow, live ×
// (1 + GOGC/100), took RSS past 60 MB at 32 senders with a ~5 MB live heap
// (issue 10): GOGC=200 (README "Performance").
//
// The soft memory limit makes the collector work harder before the heap
// outgrows its container: a share of the cgroup's memory limit (the rest is
// for stacks, the runtime and what the kernel counts against the cgroup),
// and none when the process has no limit.
const (
	serveGCPercent = 200
	// memoryLimitShare of the cgroup limit becomes GOMEMLIMIT.
	memoryLimitShare = 0.8
)

// tuneGC applies the settings and returns the soft limit set (0 for none).
func tuneGC(logger *slog.Logger) int64 {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	limit, err := cgroupMemoryLimit(os.DirFS("/"))
	if err != nil {
		logger.Warn("cannot read the cgroup memory limit; no soft memory limit set (set GOMEMLIMIT)", slog.String("error", err.Error()))
		return 0
	}
	if limit == 0 {
		return 0
	}
	soft := softMemoryLimit(limit)
	debug.SetMemoryLimit(soft)
	logger.Info("soft memory limit from the cgroup", slog.Int64("cgroup_limit_bytes", limit), slog.Int64("gomemlimit_bytes", soft))
	return soft
}

// softMemoryLimit is GOMEMLIMIT for a cgroup limit.
func softMemoryLimit(cgroupLimit int64) int64 {
	return int64(float64(cgroupLimit) * memoryLimitShare)
}

// cgroupMemoryLimit reads the memory limit of this process's cgroup from
// root (the file system root): cgroup v2's memory.max, else v1's
// memory.limit_in_bytes, in the process's own cgroup (from /proc/self/cgroup)
// or at the mount's root (a container sees its own cgroup there). 0 means
// no limit, or no cgroup files at all.
func cgroupMemoryLimit(root fs.FS) (int64, error) {
	for _, name := range cgroupLimitFiles(root) {
		b, err := fs.ReadFile(root, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return parseMemoryLimit(strings.TrimSpace(string(b)))
	}
	return 0, nil
}

// cgroupLimitFiles lists the candidate files, most specific first.
func cgroupLimitFiles(root fs.FS) []string {
	var v2, v1 []string
	self, _ := fs.ReadFile(root, "proc/self/cgroup") // Absent: the roots below.
	for line := range strings.Lines(string(self)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		dir := strings.Trim(parts[2], "/")
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = append(v2, "sys/fs/cgroup/"+dir+"/memory.max")
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1 = append(v1, "sys/fs/cgroup/memory/"+dir+"/memory.limit_in_bytes")
		}
	}
	v2 = append(v2, "sys/fs/cgroup/memory.max")
	v1 = append(v1, "sys/fs/cgroup/memory/memory.limit_in_bytes")
	return append(v2, v1...)
}

// parseMemoryLimit reads "max" (v2) or a byte count; v1 writes a huge
// number (about 2^63 rounded to the page size) for "no limit".
func parseMemoryLimit(v string) (int64, error) {
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, err
	}
	if n >= math.MaxInt64/2 {
		return 0, nil
	}
	return int64(n), nil
}
