package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/logfile"
)

// countBar redraws one line of event counts on a terminal (export writes
// it to stderr, since stdout is the file); elsewhere it prints nothing.
type countBar struct {
	w    io.Writer
	verb string
	mu   sync.Mutex
	last time.Time
	on   bool
}

func newCountBar(w io.Writer, verb string) *countBar {
	return &countBar{w: w, verb: verb, on: isTerminal(w)}
}

func (b *countBar) update(p logfile.Progress) {
	if !b.on {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) < progressRedraw {
		return
	}
	now := time.Now()
	b.last = now
	line := fmt.Sprintf("%s %d events · %.0f MB · %.0f events/s", b.verb, p.Events, float64(p.Bytes)/1e6, p.Rate(now))
	if p.Total > 0 {
		line = fmt.Sprintf("[%s] %s/%d · ETA %s", bar(p.Done()), line, p.Total, p.ETA(now))
	}
	fmt.Fprint(b.w, "\r\033[K"+line)
}

func (b *countBar) finish() {
	if b.on {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

func bar(done float64) string {
	n := min(int(done*progressWidth), progressWidth)
	out := make([]byte, progressWidth)
	for i := range out {
		out[i] = '-'
		if i < n {
			out[i] = '#'
		}
	}
	return string(out)
}
