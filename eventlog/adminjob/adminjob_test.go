package adminjob

import (
	"context"
	"net/http/httptest"
	"testing"
)

// TestRunnerOneAtATime: a second Start is refused while a task runs; Stop
// cancels the task and returns only after its end ran; a Runner whose
// context ended starts nothing.
func TestRunnerOneAtATime(t *testing.T) {
	ctx, shutdown := context.WithCancel(context.Background())
	r := NewRunner(ctx)
	running := make(chan struct{})
	ended := false
	if !r.Start(func() {}, func(ctx context.Context) func() {
		close(running)
		<-ctx.Done()
		return func() { ended = true }
	}) {
		t.Fatal("first Start refused")
	}
	<-running
	if r.Start(func() { t.Error("begin of a refused start ran") }, func(context.Context) func() { return func() {} }) {
		t.Fatal("second Start accepted while the first runs")
	}
	r.Stop()
	if !ended {
		t.Fatal("Stop returned before the task's end ran")
	}
	shutdown()
	if r.Start(func() {}, func(context.Context) func() { return func() {} }) {
		t.Fatal("Start accepted after shutdown")
	}
}

func TestWriteError(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, 409, "busy")
	if rec.Code != 409 || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\n  \"error\": \"busy\"\n}\n" {
		t.Fatalf("%d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
