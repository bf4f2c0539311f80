package cli

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
)

// backfillJob runs at most one backfill at a time inside serve and answers
// the admin endpoint:
//
//	POST /admin/backfill?entity=customers&entity=invoices&since=2025-01-08&restart=true
//	     starts a backfill (all entities by default): 202 with the status,
//	     409 while one runs, 400 for bad parameters.
//	GET  /admin/backfill
//	     the job's status in this process and every entity's stored
//	     progress (also that of CLI runs).
type backfillJob struct {
	bg     *background
	runner *orbsync.Runner
	logger *slog.Logger

	mu    sync.Mutex
	state jobStatus
}

// jobStatus is this process's view of its latest backfill.
type jobStatus struct {
	Running    bool           `json:"running"`
	StartedAt  *time.Time     `json:"started_at,omitempty"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Since      *time.Time     `json:"since,omitempty"`
	Restart    bool           `json:"restart,omitempty"`
	Entities   []entityStatus `json:"entities,omitempty"`
	Error      string         `json:"error,omitempty"`
}

type entityStatus struct {
	Entity     string `json:"entity"`
	Status     string `json:"status"`
	Pages      int64  `json:"pages"`
	Fetched    int64  `json:"fetched"`
	Stored     int64  `json:"stored"`
	Duplicates int64  `json:"duplicates"`
	Errors     int64  `json:"errors"`
	Error      string `json:"error,omitempty"`
}

func newBackfillJob(ctx context.Context, runner *orbsync.Runner, logger *slog.Logger) *backfillJob {
	return &backfillJob{bg: newBackground(ctx), runner: runner, logger: logger}
}

func (j *backfillJob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		j.handleStart(w, r)
		return
	}
	// The job's state first: if it says finished, the stored progress read
	// after it is final (the other order could pair "finished" with a page
	// count from before the last page).
	status := j.status()
	progress, err := j.runner.ListProgress(r.Context())
	if err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSONBody(w, http.StatusOK, map[string]any{"job": status, "progress": progress})
}

func (j *backfillJob) handleStart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	entities, err := orbsync.ParseEntities(q["entity"])
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	opts := orbsync.Options{Entities: entities, Restart: q.Get("restart") == "true"}
	if v := q.Get("since"); v != "" {
		if opts.Since, err = parseSince(v, time.Now()); err != nil {
			writeJSONError(w, http.StatusBadRequest, "since: "+err.Error())
			return
		}
	}
	if !j.start(opts) {
		writeJSONError(w, http.StatusConflict, "a backfill is already running; GET /admin/backfill for its progress")
		return
	}
	writeJSONBody(w, http.StatusAccepted, map[string]any{"job": j.status()})
}

// start launches a backfill unless one is running.
func (j *backfillJob) start(opts orbsync.Options) bool {
	opts.OnProgress = j.progress
	return j.bg.start(func() { j.begin(opts) }, func(ctx context.Context) func() {
		sum, err := j.runner.Backfill(ctx, opts)
		for _, e := range sum.Entities {
			j.progress(e)
		}
		return func() { j.finish(err) }
	})
}

// begin records a starting backfill.
func (j *backfillJob) begin(opts orbsync.Options) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state = jobStatus{Running: true, StartedAt: &now, Restart: opts.Restart}
	if !opts.Since.IsZero() {
		j.state.Since = &opts.Since
	}
	for _, e := range opts.Entities {
		j.state.Entities = append(j.state.Entities, entityStatus{Entity: e.Name, Status: "waiting"})
	}
}

func (j *backfillJob) progress(r orbsync.EntityResult) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, e := range j.state.Entities {
		if e.Entity == r.Entity {
			p := r.Progress
			j.state.Entities[i] = entityStatus{Entity: r.Entity, Status: string(r.Status), Pages: p.Pages, Fetched: p.Fetched,
				Stored: p.Stored, Duplicates: p.Duplicates, Errors: p.Errors}
			if r.Err != nil {
				j.state.Entities[i].Error = r.Err.Error()
			}
		}
	}
}

func (j *backfillJob) finish(err error) {
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

func (j *backfillJob) status() jobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.state
	s.Entities = append([]entityStatus(nil), s.Entities...)
	return s
}

// stop cancels a running backfill and waits for it; its progress is saved
// and the next backfill resumes it.
func (j *backfillJob) stop() { j.bg.stop() }

// requireBearer answers 401 unless the request carries the token.
func requireBearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orb-sync admin"`)
			writeJSONError(w, http.StatusUnauthorized, "missing or wrong bearer token (ADMIN_TOKEN)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSONBody(w, status, map[string]string{"error": msg})
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // The client may be gone; nothing to do.
}
