package projector

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRebuildJobRefusesASecond: while a rebuild runs, POST answers 409.
func TestRebuildJobRefusesASecond(t *testing.T) {
	t.Parallel()
	job := NewRebuildJob(context.Background(), nil, "orb", slog.New(slog.DiscardHandler), nil)
	release := make(chan struct{})
	started := job.bg.Start(func() { job.begin(nil, NewRebuildTracker(nil)) }, func(context.Context) func() {
		<-release
		return func() {}
	})
	if !started {
		t.Fatal("the first task did not start")
	}
	defer job.Stop()
	defer close(release)
	rec := httptest.NewRecorder()
	job.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admin/reproject", strings.NewReader(`{"all": true}`)))
	if rec.Code != http.StatusConflict {
		t.Errorf("POST while running: %d %s", rec.Code, rec.Body)
	}
}
