package cli

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets a test run the real command in a child process: when
// ORB_SYNC_TEST_MAIN is set, the test binary is orb-sync. Otherwise it runs
// the tests and fails the run if a goroutine outlives them (a worker whose
// Stop returns before it exits, a listener never closed).
func TestMain(m *testing.M) {
	if os.Getenv("ORB_SYNC_TEST_MAIN") == "1" {
		ctx, stop := signalContext(os.Stderr)
		code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}
