package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
)

const (
	progressRedraw = 250 * time.Millisecond
	progressWidth  = 20
)

// progressBar draws a backfill's progress on one terminal line. Orb's lists
// have no totals, so the bar counts finished entities, and each running
// entity shows how many objects it has fetched.
type progressBar struct {
	w     io.Writer
	names []string
	begin time.Time

	mu     sync.Mutex
	states map[string]orbsync.EntityResult

	stop, done chan struct{}
}

// newProgressBar returns a bar for entities, or nil when w is not a
// terminal. A nil bar's methods do nothing.
func newProgressBar(w io.Writer, entities []orbsync.Entity) *progressBar {
	if !isTerminal(w) {
		return nil
	}
	names := make([]string, len(entities))
	for i, e := range entities {
		names[i] = e.Name
	}
	return &progressBar{w: w, names: names, states: map[string]orbsync.EntityResult{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// update records an entity's latest state; safe from any goroutine.
func (p *progressBar) update(r orbsync.EntityResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states[r.Entity] = r
}

// start redraws the line until finish.
func (p *progressBar) start() {
	p.begin = time.Now()
	go func() {
		defer close(p.done)
		t := time.NewTicker(progressRedraw)
		defer t.Stop()
		for {
			fmt.Fprint(p.w, "\r\033[K"+p.line())
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}()
}

// finish stops redrawing and clears the line.
func (p *progressBar) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}

// line renders the current state, e.g.
// "[########------------] 4/9 entities · customers 12300 · 1850 objects/s".
func (p *progressBar) line() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	finished := 0
	var fetched int64
	var running []string
	for _, name := range p.names {
		r, ok := p.states[name]
		fetched += r.RunFetched
		switch {
		case !ok:
		case r.Status == orbsync.StatusRunning:
			running = append(running, fmt.Sprintf("%s %d", name, r.Progress.Fetched))
		default:
			finished++
		}
	}
	filled := progressWidth * finished / max(len(p.names), 1)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s%s] %d/%d entities", strings.Repeat("#", filled), strings.Repeat("-", progressWidth-filled), finished, len(p.names))
	for _, r := range running {
		b.WriteString(" · " + r)
	}
	if s := time.Since(p.begin).Seconds(); s >= 1 {
		fmt.Fprintf(&b, " · %.0f objects/s", float64(fetched)/s)
	}
	return b.String()
}
