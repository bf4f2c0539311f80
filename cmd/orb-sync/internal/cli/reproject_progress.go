package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/projector"
)

// rebuildLine renders a rebuild's progress on one line, e.g.
// "[#####---------------] 2/9 tables · invoices filling · 2000000/9000000 events · 95000 events/s · ETA 1m14s".
func rebuildLine(s projector.RebuildSummary) string {
	filled := 0
	if s.EventsTotal > 0 {
		filled = min(progressWidth, int(int64(progressWidth)*s.EventsDone/s.EventsTotal))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %d/%d tables", strings.Repeat("#", filled), strings.Repeat("-", progressWidth-filled), s.TablesDone, s.TablesTotal)
	if s.Current != "" {
		fmt.Fprintf(&b, " · %s %s", s.Current, strings.ReplaceAll(s.Phase, "_", " "))
	}
	fmt.Fprintf(&b, " · %d/%d events", s.EventsDone, s.EventsTotal)
	if s.EventsPerSec > 0 {
		fmt.Fprintf(&b, " · %.0f events/s · ETA %s", s.EventsPerSec, (time.Duration(s.ETASeconds) * time.Second).String())
	}
	return b.String()
}

// drawRebuild redraws t's progress line on w until stop is closed, then
// clears it and closes done.
func drawRebuild(t *projector.RebuildTracker, w io.Writer, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(progressRedraw)
	defer tick.Stop()
	for {
		fmt.Fprint(w, "\r\033[K"+rebuildLine(t.Summary()))
		select {
		case <-stop:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-tick.C:
		}
	}
}
