package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog/orbsync"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/projector/console"
)

// mountConsole serves the web console at /console/ on the admin router,
// only when ADMIN_TOKEN is set (the console asks for it on every request).
func mountConsole(ctx context.Context, token string, secrets []string, pool *pgxpool.Pool, schema string,
	logger *slog.Logger, reg prometheus.Gatherer, jobs *jobBoard, admin *mux.Router) error {
	if token == "" {
		logger.InfoContext(ctx, "ADMIN_TOKEN is not set: the console is off")
		return nil
	}
	c, err := console.New(ctx, console.Config{Pool: pool, Schema: schema, Token: token, Secrets: secrets,
		Gatherer: reg, Jobs: jobs.list, Logger: logger.With("component", "console")})
	if err != nil {
		return err
	}
	admin.Handle("/console", http.RedirectHandler(console.Prefix, http.StatusMovedPermanently))
	admin.PathPrefix(console.Prefix).Handler(c)
	return nil
}

// jobBoard collects the background jobs of this process (backfill,
// rebuild) for the console's pipeline page.
type jobBoard struct {
	mu      sync.Mutex
	sources []func() []console.Job
}

func (b *jobBoard) add(source func() []console.Job) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sources = append(b.sources, source)
}

func (b *jobBoard) list() []console.Job {
	b.mu.Lock()
	sources := append([]func() []console.Job(nil), b.sources...)
	b.mu.Unlock()
	var out []console.Job
	for _, s := range sources {
		out = append(out, s()...)
	}
	return out
}

// rebuildConsoleJobs shows the latest rebuild, if any.
func rebuildConsoleJobs(s projector.RebuildJobStatus) []console.Job {
	if s.StartedAt == nil {
		return nil
	}
	job := console.Job{Kind: "rebuild " + strings.Join(s.Tables, ", "), Running: s.Running, StartedAt: *s.StartedAt,
		Unit: "log events", Error: s.Error}
	if s.FinishedAt != nil {
		job.FinishedAt = *s.FinishedAt
	}
	if p := s.Progress; p != nil {
		job.Done, job.Total = p.EventsDone, p.EventsTotal
		job.Detail = fmt.Sprintf("%d/%d tables", p.TablesDone, p.TablesTotal)
		if p.Current != "" {
			job.Detail += fmt.Sprintf(" · %s %s", p.Current, p.Phase)
		}
		if p.ETASeconds > 0 {
			job.Detail += " · ETA " + (time.Duration(p.ETASeconds) * time.Second).String()
		}
	}
	return []console.Job{job}
}

// backfillConsoleJobs shows the latest backfill started by this process, if any.
func backfillConsoleJobs(s orbsync.BackfillJobStatus) []console.Job {
	if s.StartedAt == nil {
		return nil
	}
	job := console.Job{Kind: "backfill", Running: s.Running, StartedAt: *s.StartedAt, Unit: "objects fetched", Error: s.Error}
	if s.FinishedAt != nil {
		job.FinishedAt = *s.FinishedAt
	}
	var parts []string
	for _, e := range s.Entities {
		job.Done += e.Fetched
		parts = append(parts, fmt.Sprintf("%s %s", e.Entity, e.Status))
	}
	job.Detail = strings.Join(parts, " · ")
	return []console.Job{job}
}
