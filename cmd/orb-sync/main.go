// Command orb-sync keeps an Orb billing account in PostgreSQL: it receives
// Orb's webhooks into an append-only event log and projects them into
// tables. See the README for the commands.
package main

import (
	"os"

	"github.com/orb-sync/orb-sync/cmd/orb-sync/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
