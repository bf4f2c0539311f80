package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/projector"
)

// adminBodyMax bounds an admin request body.
const adminBodyMax = 64 << 10

// reprojectJob runs at most one rebuild at a time inside serve and answers
// the admin endpoint:
//
//	POST /admin/reproject  {"tables": ["customers", "invoices"]} or {"all": true}
//	     starts a rebuild in the background: 202 with the status, 409 while
//	     one runs, 400 for a bad body or an unknown table.
//	GET  /admin/reproject
//	     the latest rebuild's status: per table its phase and log events
//	     folded, the rate and an estimate of the time left.
//
// Across processes (another replica, the CLI, the automatic rebuild after
// a version change) each table's rebuild lock keeps one rebuild per table;
// a table already being rebuilt elsewhere fails with that reason.
type reprojectJob struct {
	bg     *background
	pool   *pgxpool.Pool
	schema string
	logger *slog.Logger
	// metrics records the rebuilds (shared with the projector's automatic
	// ones).
	metrics *projector.RebuildMetrics

	mu      sync.Mutex
	state   reprojectStatus
	tracker *projector.RebuildTracker
}

// reprojectStatus is this process's view of its latest rebuild.
type reprojectStatus struct {
	Running    bool                   `json:"running"`
	StartedAt  *time.Time             `json:"started_at,omitempty"`
	FinishedAt *time.Time             `json:"finished_at,omitempty"`
	Tables     []string               `json:"tables,omitempty"`
	Progress   *projector.RebuildSummary        `json:"progress,omitempty"`
	Results    []reprojectTableResult `json:"results,omitempty"`
	Error      string                 `json:"error,omitempty"`
}

type reprojectTableResult struct {
	Table        string  `json:"table"`
	Checkpoint   int64   `json:"checkpoint"`
	Events       int64   `json:"events"`
	Rows         int64   `json:"rows"`
	DeadLetters  int     `json:"dead_letters"`
	SwapAttempts int     `json:"swap_attempts"`
	Seconds      float64 `json:"seconds"`
}

type reprojectRequest struct {
	Tables []string `json:"tables"`
	All    bool     `json:"all"`
}

// mountReproject serves /admin/reproject when token is set, and returns the
// function that cancels a running rebuild (its live tables stay untouched)
// and waits for it.
func mountReproject(ctx context.Context, token string, pool *pgxpool.Pool, schema string, logger *slog.Logger,
	metrics *projector.RebuildMetrics, router *mux.Router, jobs *jobBoard) func() {
	if token == "" {
		logger.InfoContext(ctx, "ADMIN_TOKEN is not set: /admin/reproject is off")
		return func() {}
	}
	job := &reprojectJob{bg: newBackground(ctx), pool: pool, schema: schema, logger: logger, metrics: metrics}
	router.Handle("/admin/reproject", requireBearer(token, job)).Methods(http.MethodGet, http.MethodPost)
	jobs.add(job.consoleJobs)
	return job.stop
}

func (j *reprojectJob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSONBody(w, http.StatusOK, j.status())
		return
	}
	var req reprojectRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, adminBodyMax))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSONError(w, http.StatusBadRequest, "body: "+err.Error()+` (want {"tables": ["customers"]} or {"all": true})`)
		return
	}
	if req.All == (len(req.Tables) > 0) {
		writeJSONError(w, http.StatusBadRequest, `give either "tables" or "all": true`)
		return
	}
	list, err := projector.ProjectionsNamed(req.Tables)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !j.start(list) {
		writeJSONError(w, http.StatusConflict, "a rebuild is already running; GET /admin/reproject for its progress")
		return
	}
	writeJSONBody(w, http.StatusAccepted, j.status())
}

// start launches a rebuild of list unless one is running.
func (j *reprojectJob) start(list []projector.Projection) bool {
	tracker := projector.NewRebuildTracker(list)
	rebuilder, err := projector.NewRebuilder(j.pool, projector.RebuildConfig{Schema: j.schema, Logger: j.logger,
		Metrics: j.metrics, OnProgress: tracker.Update})
	return j.bg.start(func() { j.begin(list, tracker, err) }, func(ctx context.Context) func() {
		if err != nil {
			return func() { j.finish(nil, err) }
		}
		j.logger.InfoContext(ctx, "admin rebuild started", slog.Any("tables", names(list)))
		results, err := rebuilder.Rebuild(ctx, names(list)...)
		return func() { j.finish(results, err) }
	})
}

// begin records a starting rebuild.
func (j *reprojectJob) begin(list []projector.Projection, tracker *projector.RebuildTracker, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state = reprojectStatus{Running: true, StartedAt: &now, Tables: names(list)}
	j.tracker = tracker
}

func (j *reprojectJob) finish(results []projector.RebuildResult, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state.Running, j.state.FinishedAt = false, &now
	for _, r := range results {
		j.state.Results = append(j.state.Results, reprojectTableResult{Table: r.Table, Checkpoint: r.Checkpoint, Events: r.Events,
			Rows: r.Rows, DeadLetters: len(r.DeadLetters), SwapAttempts: r.SwapAttempts, Seconds: r.Took.Seconds()})
	}
	if err != nil {
		j.state.Error = err.Error()
		if !errors.Is(err, context.Canceled) {
			j.logger.Error("admin rebuild ended with an error", slog.String("error", err.Error()))
		}
		return
	}
	j.logger.Info("admin rebuild finished", slog.Any("tables", j.state.Tables))
}

func (j *reprojectJob) status() reprojectStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.state
	s.Tables = append([]string(nil), s.Tables...)
	s.Results = append([]reprojectTableResult(nil), s.Results...)
	if j.tracker != nil {
		sum := j.tracker.Summary()
		s.Progress = &sum
	}
	return s
}

// stop cancels a running rebuild and waits for it; the live tables it had
// not swapped yet are untouched.
func (j *reprojectJob) stop() { j.bg.stop() }
