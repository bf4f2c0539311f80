package projector

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog/adminjob"
)

// adminBodyMax bounds an admin request body.
const adminBodyMax = 64 << 10

// RebuildJob runs at most one rebuild at a time inside serve and answers
// the admin endpoint (the caller mounts it behind its authentication):
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
type RebuildJob struct {
	bg     *adminjob.Runner
	pool   *pgxpool.Pool
	schema string
	logger *slog.Logger
	// metrics records the rebuilds (shared with the projector's automatic
	// ones).
	metrics *RebuildMetrics

	mu      sync.Mutex
	state   RebuildJobStatus
	tracker *RebuildTracker
}

// RebuildJobStatus is this process's view of its latest rebuild.
type RebuildJobStatus struct {
	Running    bool                 `json:"running"`
	StartedAt  *time.Time           `json:"started_at,omitempty"`
	FinishedAt *time.Time           `json:"finished_at,omitempty"`
	Tables     []string             `json:"tables,omitempty"`
	Progress   *RebuildSummary      `json:"progress,omitempty"`
	Results    []RebuildTableResult `json:"results,omitempty"`
	Error      string               `json:"error,omitempty"`
}

// RebuildTableResult is a RebuildResult as the admin endpoint shows it.
type RebuildTableResult struct {
	Table        string  `json:"table"`
	Checkpoint   int64   `json:"checkpoint"`
	Events       int64   `json:"events"`
	Rows         int64   `json:"rows"`
	DeadLetters  int     `json:"dead_letters"`
	SwapAttempts int     `json:"swap_attempts"`
	Seconds      float64 `json:"seconds"`
}

type rebuildRequest struct {
	Tables []string `json:"tables"`
	All    bool     `json:"all"`
}

// NewRebuildJob returns the job; its rebuilds end when ctx does.
func NewRebuildJob(ctx context.Context, pool *pgxpool.Pool, schema string, logger *slog.Logger, metrics *RebuildMetrics) *RebuildJob {
	return &RebuildJob{bg: adminjob.NewRunner(ctx), pool: pool, schema: schema, logger: logger, metrics: metrics}
}

func (j *RebuildJob) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		adminjob.WriteJSON(w, http.StatusOK, j.Status())
		return
	}
	var req rebuildRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, adminBodyMax))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		adminjob.WriteError(w, http.StatusBadRequest, "body: "+err.Error()+` (want {"tables": ["customers"]} or {"all": true})`)
		return
	}
	if req.All == (len(req.Tables) > 0) {
		adminjob.WriteError(w, http.StatusBadRequest, `give either "tables" or "all": true`)
		return
	}
	list, err := ProjectionsNamed(req.Tables)
	if err != nil {
		adminjob.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !j.start(list) {
		adminjob.WriteError(w, http.StatusConflict, "a rebuild is already running; GET /admin/reproject for its progress")
		return
	}
	adminjob.WriteJSON(w, http.StatusAccepted, j.Status())
}

// start launches a rebuild of list unless one is running.
func (j *RebuildJob) start(list []Projection) bool {
	tracker := NewRebuildTracker(list)
	rebuilder, err := NewRebuilder(j.pool, RebuildConfig{Schema: j.schema, Logger: j.logger,
		Metrics: j.metrics, OnProgress: tracker.Update})
	return j.bg.Start(func() { j.begin(list, tracker) }, func(ctx context.Context) func() {
		if err != nil {
			return func() { j.finish(nil, err) }
		}
		j.logger.InfoContext(ctx, "admin rebuild started", slog.Any("tables", projectionNames(list)))
		results, err := rebuilder.Rebuild(ctx, projectionNames(list)...)
		return func() { j.finish(results, err) }
	})
}

func projectionNames(list []Projection) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Name
	}
	return out
}

// begin records a starting rebuild.
func (j *RebuildJob) begin(list []Projection, tracker *RebuildTracker) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state = RebuildJobStatus{Running: true, StartedAt: &now, Tables: projectionNames(list)}
	j.tracker = tracker
}

func (j *RebuildJob) finish(results []RebuildResult, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now().UTC()
	j.state.Running, j.state.FinishedAt = false, &now
	for _, r := range results {
		j.state.Results = append(j.state.Results, RebuildTableResult{Table: r.Table, Checkpoint: r.Checkpoint, Events: r.Events,
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

// Status is the latest rebuild's state, with its progress so far.
func (j *RebuildJob) Status() RebuildJobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.state
	s.Tables = append([]string(nil), s.Tables...)
	s.Results = append([]RebuildTableResult(nil), s.Results...)
	if j.tracker != nil {
		sum := j.tracker.Summary()
		s.Progress = &sum
	}
	return s
}

// Stop cancels a running rebuild and waits for it; the live tables it had
// not swapped yet are untouched.
func (j *RebuildJob) Stop() { j.bg.Stop() }
