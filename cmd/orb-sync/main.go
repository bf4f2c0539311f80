// Command orb-sync keeps an Orb billing account in PostgreSQL: it receives
// Orb's webhooks into an append-only event log and projects them into
// tables. See the README for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orb-sync/orb-sync/cmd/orb-sync/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
