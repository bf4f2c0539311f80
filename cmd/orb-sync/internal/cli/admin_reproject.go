package cli

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console"
)

// mountReproject serves /admin/reproject (projector.RebuildJob) when token
// is set, and returns the function that cancels a running rebuild (its
// live tables stay untouched) and waits for it.
func mountReproject(ctx context.Context, token string, pool *pgxpool.Pool, schema string, logger *slog.Logger,
	metrics *projector.RebuildMetrics, router *mux.Router, jobs *jobBoard) func() {
	if token == "" {
		logger.InfoContext(ctx, "ADMIN_TOKEN is not set: /admin/reproject is off")
		return func() {}
	}
	job := projector.NewRebuildJob(ctx, pool, schema, logger, metrics)
	router.Handle("/admin/reproject", requireBearer(token, job)).Methods(http.MethodGet, http.MethodPost)
	jobs.add(func() []console.Job { return rebuildConsoleJobs(job.Status()) })
	return job.Stop
}
