package cli

import (
	"log/slog"
	"sync"
)

// runGroup is serve's components in the order they started. stop stops
// them in the reverse order, each once, whatever made serve stop (a signal,
// a listener that failed, a component that failed to start): a component
// only ever stops after everything started after it, which may depend on
// it, has stopped.
type runGroup struct {
	logger *slog.Logger

	mu    sync.Mutex
	parts []runPart
}

type runPart struct {
	name string
	stop func()
}

// add records a started component and how to stop it.
func (g *runGroup) add(name string, stop func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.parts = append(g.parts, runPart{name, stop})
}

// stop stops every component added, newest first; later calls do nothing.
func (g *runGroup) stop() {
	g.mu.Lock()
	parts := g.parts
	g.parts = nil
	g.mu.Unlock()
	for i := len(parts) - 1; i >= 0; i-- {
		g.logger.Debug("stopping", slog.String("component", parts[i].name))
		parts[i].stop()
	}
}
