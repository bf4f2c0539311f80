package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// exitForced is the status of a process stopped by a second signal (as a
// shell reports SIGINT).
const exitForced = 130

// signalContext is cancelled by the first SIGINT or SIGTERM, which starts
// serve's drain. A second signal exits at once with exitForced: an operator
// pressing Ctrl-C twice, or an orchestrator that escalates, must not wait
// for a drain stuck behind an unreachable database.
func signalContext(stderr io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			fmt.Fprintf(stderr, "orb-sync: second signal (%s) during shutdown: exiting without finishing the drain\n", sig)
			os.Exit(exitForced)
		case <-done:
		}
	}()
	stop := sync.OnceFunc(func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	})
	return ctx, stop
}
