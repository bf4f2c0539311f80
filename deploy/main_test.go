package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binary is orb-sync built once for the tests, with the Dockerfile's
// -ldflags (see TestDockerfileInjectsTheVersion).
var binary string

const (
	testVersion = "v0.0.0-deploytest"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orb-sync-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "orb-sync")
		args, err := dockerfileBuildArgs(map[string]string{"VERSION": testVersion, "COMMIT": testCommit})
		if err != nil {
			fmt.Fprintln(os.Stderr, "reading the Dockerfile's build command:", err)
			return 1
		}
		build := exec.Command("go", append(args, "-o", binary, "../cmd/orb-sync")...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building orb-sync: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
