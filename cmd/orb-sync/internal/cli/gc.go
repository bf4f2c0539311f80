package cli

import (
	"os"
	"runtime/debug"
)

// GC settings for serve, unless the operator set GOGC or GOMEMLIMIT. The
// ack path allocates every request body (up to ~54 KB for a subscription)
// and with the default GOGC=100 the collector ran about 12% of the process's
// CPU under load. With these settings, at 32 senders with the projector in
// the process: 2,253–2,366 → 2,677–3,112 req/s and p99 27 → 20–24 ms, at
// 37–46 MB RSS (orb-sync loadgen, README "Performance"); the soft memory
// limit makes the collector work harder before the heap outgrows a small
// container.
const (
	serveGCPercent   = 400
	serveMemoryLimit = 64 << 20
)

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit)
	}
}
