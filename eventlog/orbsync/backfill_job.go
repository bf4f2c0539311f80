package orbsync

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/adminjob"
)

// BackfillJob runs at most one backfill at a time inside serve and answers
// the admin endpoint (the caller mounts it behind its authentication):
//
//	POST /admin/backfill?entity=customers&entity=invoices&since=2025-01-08&restart=true
//	     starts a backfill (all entities by default): 202 with the status,
//	     409 while one runs, 400 for bad parameters.
//	GET  /admin/backfill
//	     the job's status in this process and every entity's stored
//	     progress (also that of CLI runs).
type BackfillJob struct {
	bg     *adminjob.Runner
	runner *Runner
	logger *slog.Logger

	mu    sync.Mutex
	state BackfillJobStatus
}

// BackfillJobStatus is this process's view of its latest backfill.
type BackfillJobStatus struct {
	Running    bool                `json:"running"`
	StartedAt  *time.Time          `json:"started_at,omitempty"`
	FinishedAt *time.Time          `json:"finished_at,omitempty"`
	Since      *time.Time          `json:"since,omitempty"`
	Restart    bool                `json:"restart,omitempty"`
	Entities   []BackfillEntityJob `json:"entities,omitempty"`
	Error      string              `json:"error,omitempty"`
}

// BackfillEntityJob is one entity's part of a BackfillJobStatus.
type BackfillEntityJob struct {
	Entity     string `json:"entity"`
	Status     string `json:"status"`
	Pages      int64  `json:"pages"`
	Fetched    int64  `json:"fetched"`
	Stored     int64  `json:"stored"`
	Duplicates int64  `json:"duplicates"`
	Errors     int64  `json:"errors"`
	Error      string `json:"error,omitempty"`
}

// NewBackfillJob returns the job; its backfills end when ctx does.
func NewBackfillJob(ctx context.Context, runner *Runner, logger *slog.Logger) *BackfillJob {
	return &BackfillJob{bg: adminjob.NewRunner(ctx), runner: runner, logger: logger}
}

func (j *BackfillJob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		j.handleStart(w, r)
		return
	}
	// The job's state first: if it says finished, the stored progress read
	// after it is final (the other order could pair "finished" with a page
	// count from before the last page).
	status := j.Status()
	progress, err := j.runner.ListProgress(r.Context())
	if err != nil {
		adminjob.WriteError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	adminjob.WriteJSON(w, http.StatusOK, map[string]any{"job": status, "progress": progress})
}

func (j *BackfillJob) handleStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	entities, err := ParseEntities(q["entity"])
	if err != nil {
		adminjob.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	opts := Options{Entities: entities, Restart: q.Get("restart") == "true"}
	if v := q.Get("since"); v != "" {
		if opts.Since, err = eventlog.ParseSince(v, time.Now()); err != nil {
			adminjob.WriteError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
	}
	if !j.start(opts) {
		adminjob.WriteError(w, http.StatusConflict, "a backfill is already running; GET /admin/backfill for its progress")
		return
	}
	adminjob.WriteJSON(w, http.StatusAccepted, map[string]any{"job": j.Status()})
}

// start launches a backfill unless one is running.
func (j *BackfillJob) start(opts Options) bool {
	opts.OnProgress = j.progress
	return j.bg.Start(func() { j.begin(opts) }, func(ctx context.Context) func() {
		sum, err := j.runner.Backfill(ctx, opts)
		for _, e := range sum.Entities {
			j.progress(e)
		}
		return func() { j.finish(err) }
	})
}

// begin records a starting backfill.
func (j *BackfillJob) begin(opts Options) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state = BackfillJobStatus{Running: true, StartedAt: &now, Restart: opts.Restart}
	if !opts.Since.IsZero() {
		j.state.Since = &opts.Since
	}
	for _, e := range opts.Entities {
		j.state.Entities = append(j.state.Entities, BackfillEntityJob{Entity: e.Name, Status: "waiting"})
	}
}

func (j *BackfillJob) progress(r EntityResult) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, e := range j.state.Entities {
		if e.Entity == r.Entity {
			p := r.Progress
			j.state.Entities[i] = BackfillEntityJob{Entity: r.Entity, Status: string(r.Status), Pages: p.Pages, Fetched: p.Fetched,
				Stored: p.Stored, Duplicates: p.Duplicates, Errors: p.Errors}
			if r.Err != nil {
				j.state.Entities[i].Error = r.Err.Error()
			}
		}
	}
}

func (j *BackfillJob) finish(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state.Running, j.state.FinishedAt = false, &now
	if err != nil {
		j.state.Error = err.Error()
		j.logger.Error("admin backfill ended with an error", slog.String("error", err.Error()))
		return
	}
	j.logger.Info("admin backfill finished")
}

// Status is the latest backfill's state.
func (j *BackfillJob) Status() BackfillJobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.state
	s.Entities = append([]BackfillEntityJob(nil), s.Entities...)
	return s
}

// Stop cancels a running backfill and waits for it; its progress is saved
// and the next backfill resumes it.
func (j *BackfillJob) Stop() { j.bg.Stop() }
