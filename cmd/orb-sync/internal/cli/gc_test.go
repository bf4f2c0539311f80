package cli

import (
	"testing"
	"testing/fstest"
)

// TestCgroupMemoryLimit reads the limit Kubernetes or Docker sets, under
// both cgroup versions; the soft limit follows it instead of a constant.
func TestCgroupMemoryLimit(t *testing.T) {
	const mi = 1 << 20
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tt := range []struct {
		name  string
		files fstest.MapFS
		want  int64
	}{
		{"v2 container", fstest.MapFS{"proc/self/cgroup": file("0::/\n"), "sys/fs/cgroup/memory.max": file("268435456\n")}, 256 * mi},
		{"v2 unlimited", fstest.MapFS{"sys/fs/cgroup/memory.max": file("max\n")}, 0},
		{"v2 nested", fstest.MapFS{
			"proc/self/cgroup":                          file("0::/kubepods/pod1/c1\n"),
			"sys/fs/cgroup/kubepods/pod1/c1/memory.max": file("536870912\n"),
			"sys/fs/cgroup/memory.max":                  file("max\n"),
		}, 512 * mi},
		{"v1 container", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456\n")}, 256 * mi},
		{"v1 unlimited", fstest.MapFS{"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n")}, 0},
		{"hybrid, limit in v1", fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/docker/abc\n0::/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("134217728\n"),
		}, 128 * mi},
		{"no cgroup", fstest.MapFS{}, 0},
	} {
		got, err := cgroupMemoryLimit(tt.files)
		if err != nil || got != tt.want {
			t.Errorf("%s: %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
	if _, err := cgroupMemoryLimit(fstest.MapFS{"sys/fs/cgroup/memory.max": file("lots")}); err == nil {
		t.Error("a malformed limit was accepted")
	}
}

func TestSoftMemoryLimitFollowsTheContainer(t *testing.T) {
	// Kubernetes' 256Mi limit: the collector starts working hard at ~205 MiB,
	// not at a fixed 64 MiB that a 10 MiB body burst overshoots.
	if got := softMemoryLimit(256 << 20); got < 200<<20 || got > 210<<20 {
		t.Errorf("soft limit for 256 MiB = %d MiB", got>>20)
	}
}
