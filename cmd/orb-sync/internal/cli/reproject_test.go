package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/projector"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// fillLogForTest appends n generated events about entities resources per
// kind to the schema's log.
func fillLogForTest(t *testing.T, s *pgtest.Schema, n, entities int) {
	t.Helper()
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	defer a.Stop()
	if err := webhooktest.Fill(context.Background(), a, n, entities, nil); err != nil {
		t.Fatal(err)
	}
}

func TestReprojectAndVerifyCommands(t *testing.T) {
	t.Parallel()
	s := pgtest.NewSchema(t)
	fillLogForTest(t, s, 300, 20)
	env := map[string]string{"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name, "LOG_FORMAT": "text"}

	code, stdout, stderr := runCLI(t, env, "reproject", "--all")
	if code != 0 || !strings.Contains(stdout, fmt.Sprintf("rebuilt %d tables from a log of 300 events", len(projector.Projections()))) {
		t.Fatalf("reproject --all: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr = runCLI(t, env, "verify"); code != 0 || strings.Count(stdout, ": ok") != len(projector.Projections()) {
		t.Fatalf("verify: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// A hand edit: verify names the row and column, and exits 3.
	customers := pgx.Identifier{s.Name, "customers"}.Sanitize()
	var id string
	err := s.Pool.QueryRow(context.Background(), "update "+customers+" set name = 'by hand'"+
		" where id = (select min(id) from "+customers+") returning id").Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, "verify", "customers", "invoices")
	if code != verifyDiffersExit || !strings.Contains(stdout, "customers "+id+`: name (live "by hand", log `) ||
		!strings.Contains(stdout, "invoices") || !strings.Contains(stderr, "'orb-sync reproject customers' rebuilds them") {
		t.Fatalf("verify after a hand edit: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr = runCLI(t, env, "reproject", "customers"); code != 0 {
		t.Fatalf("reproject customers: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr = runCLI(t, env, "verify", "customers"); code != 0 {
		t.Fatalf("verify after reproject: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestReprojectUsage(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://u@127.0.0.1:1/db"}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"reproject"}, 2, "name the tables to rebuild, or give --all"},
		{[]string{"reproject", "--all", "customers"}, 2, "name the tables to rebuild, or give --all"},
		{[]string{"reproject", "widgets"}, 2, `unknown table ["widgets"]`},
		{[]string{"verify", "widgets"}, 2, `unknown table ["widgets"]`},
		{[]string{"reproject", "--chunk-size", "0", "--all"}, 1, "--chunk-size=0 must be positive"},
	} {
		if code, _, stderr := runCLI(t, env, tt.args...); code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestRebuildSummaryLine(t *testing.T) {
	t.Parallel()
	list, err := projector.ProjectionsNamed([]string{"customers", "invoices", "plans"})
	if err != nil {
		t.Fatal(err)
	}
	tr := projector.NewRebuildTracker(list)
	tr.Update(projector.RebuildProgress{Projection: "customers", Table: "customers", Phase: projector.PhaseDone, Done: 600, Total: 600})
	tr.Update(projector.RebuildProgress{Projection: "invoices", Table: "invoices", Phase: projector.PhaseFilling, Done: 400, Total: 600})
	want := "[###########---------] 1/3 tables · invoices filling · 1000/1800 events · 100 events/s · ETA 8s"
	if got := rebuildLine(tr.SummaryAt(tr.Started().Add(10 * time.Second))); got != want {
		t.Fatalf("line\n%q\nwant\n%q", got, want)
	}
}
