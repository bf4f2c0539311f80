package cli

import (
	"io"
	"log/slog"
	"slices"
	"testing"
)

func TestRunGroupStopsInReverseOnce(t *testing.T) {
	g := &runGroup{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var stopped []string
	for _, name := range []string{"pools", "appender", "projector", "http"} {
		g.add(name, func() { stopped = append(stopped, name) })
	}
	g.stop()
	g.stop()
	if want := []string{"http", "projector", "appender", "pools"}; !slices.Equal(stopped, want) {
		t.Fatalf("stopped %v, want %v", stopped, want)
	}
}
