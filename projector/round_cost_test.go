package projector

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// prepared returns a projector ready for catchUp (or applyRound) on pool.
func (b *testBundle) prepared(t *testing.T, pool *pgxpool.Pool, cfg Config) *Projector {
	t.Helper()
	p, err := New(pool, b.config(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSmallRoundsUseGenericPlans: the fold statements of rounds up to
// GenericPlanMax positions run on their generic plans (planned once per
// connection, not at every round); a larger round plans each execution.
func TestSmallRoundsUseGenericPlans(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.append(t, distinctCustomers(t, 0, 40)...)
	p := b.prepared(t, b.schema.Pool, Config{BatchSize: 10})
	var custom, generic int64
	var modes []string
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		// The round's own connection: its prepared statements and settings.
		var mode string
		err := tx.QueryRow(ctx, `select coalesce(sum(custom_plans), 0), coalesce(sum(generic_plans), 0), current_setting('plan_cache_mode')
			from pg_catalog.pg_prepared_statements where statement like 'with ranked as materialized%'`).Scan(&custom, &generic, &mode)
		modes = append(modes, mode)
		return err
	}
	if err := p.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(modes) != 4 || custom != 0 || generic == 0 {
		t.Fatalf("%d rounds (modes %v): fold statements ran %d custom and %d generic plans, want 4 rounds, no custom plans",
			len(modes), modes, custom, generic)
	}

	b.append(t, distinctCustomers(t, 40, fold.GenericPlanMax+1)...)
	p = b.prepared(t, b.schema.Pool, Config{BatchSize: 2 * fold.GenericPlanMax})
	modes = nil
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		var mode string
		err := tx.QueryRow(ctx, "select current_setting('plan_cache_mode')").Scan(&mode)
		modes = append(modes, mode)
		return err
	}
	if err := p.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(modes) != 1 || modes[0] != "force_custom_plan" {
		t.Fatalf("a round of %d positions ran with plan_cache_mode %v, want force_custom_plan", fold.GenericPlanMax+1, modes)
	}
	if n := b.count(t, "customers"); n != 40+fold.GenericPlanMax+1 {
		t.Errorf("%d customers, want %d", n, 40+fold.GenericPlanMax+1)
	}
}

// TestRoundSettingsSurviveFailedSteps: the settings a round's folds depend
// on are made once per round, so they must outlast every savepoint rolled
// back in it: a step that fails whole (its checkpoint moved) and one whose
// poison event was bisected out. The session's own time zone is not UTC.
func TestRoundSettingsSurviveFailedSteps(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg := b.schema.Pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["TimeZone"] = "Pacific/Kiritimati"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	poison := customerObj(t, "cus_2")
	poison["balance"] = "abc"
	b.append(t,
		event(t, "evt_1", "invoice.issued", at(1), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}),
		event(t, "evt_2", "customer.edited", at(2), map[string]any{"customer": poison}),
		event(t, "evt_3", "customer.created", at(3), map[string]any{"customer": customerObj(t, "cus_3")}),
	)
	p := b.prepared(t, pool, Config{})
	round := make([]step, 2)
	for _, tg := range p.targets {
		switch tg.Projection().Name {
		case "invoices":
			round[0] = step{target: tg, from: 1, to: 3} // Stale: the checkpoint is at 0.
		case "customers":
			round[1] = step{target: tg, from: 0, to: 3}
		}
	}
	var tz, mode string
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		return tx.QueryRow(ctx, "select current_setting('TimeZone'), current_setting('plan_cache_mode')").Scan(&tz, &mode)
	}
	if err := p.applyRound(ctx, round); err != nil {
		t.Fatal(err)
	}
	if round[0].err == nil || round[1].err != nil || len(round[1].res.DeadLetters) != 1 {
		t.Fatalf("steps: %v / %v with %d dead letters, want the stale one failed and the poison set aside",
			round[0].err, round[1].err, len(round[1].res.DeadLetters))
	}
	if tz != "UTC" || mode != "force_generic_plan" {
		t.Errorf("at commit TimeZone = %q, plan_cache_mode = %q; want UTC, force_generic_plan", tz, mode)
	}
	b.row(t, "customers", "cus_3")
}

// TestUnknownFieldReportedInItsRound: a payload field with no column is
// reported (once) in the round that first carries it, also after rounds
// without it, and not for fields that have a column.
func TestUnknownFieldReportedInItsRound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	p := b.prepared(t, b.schema.Pool, Config{BatchSize: 5, Logger: logger})
	reported := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "payload field has no column") {
				out = append(out, line)
			}
		}
		return out
	}
	b.append(t, distinctCustomers(t, 0, 12)...)
	if err := p.catchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := reported(); len(got) != 0 {
		t.Fatalf("reported before any new field: %q", got)
	}
	var events []eventlog.Event
	for i := range 3 {
		c := customerObj(t, fmt.Sprintf("cus_n%d", i))
		c["brand_new_field"] = "x"
		events = append(events, event(t, fmt.Sprintf("evt_n%d", i), "customer.edited", at(100+i), map[string]any{"customer": c}))
	}
	b.append(t, events...)
	p.hooks.beforeCommit = func(context.Context, pgx.Tx, []string) error {
		if got := reported(); len(got) != 0 {
			t.Errorf("reported before its round committed: %q", got)
		}
		return nil
	}
	if err := p.catchUp(context.Background()); err != nil { // One round: 3 positions.
		t.Fatal(err)
	}
	got := reported()
	if len(got) != 1 || !strings.Contains(got[0], "projection=customers") || !strings.Contains(got[0], "field=brand_new_field") {
		t.Fatalf("reports after the round = %q, want one for customers.brand_new_field", got)
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// TestGenericPlansNeverScanTables: the generic plans small rounds keep are
// made while the tables may still be small (a fresh deploy, a test schema);
// none may scan a whole table, which it would keep doing as they grow.
func TestGenericPlansNeverScanTables(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg := b.schema.Pool.Config().Copy()
	cfg.MaxConns = 1 // Every round on the connection the hook looks at.
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b.append(t, distinctCustomers(t, 0, 20)...)
	b.append(t, event(t, "evt_inv", "invoice.issued", at(30), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_d1", "sub_1")}))
	p := b.prepared(t, pool, Config{BatchSize: 10})
	var scans []string
	var checked int
	p.hooks.beforeCommit = func(ctx context.Context, tx pgx.Tx, _ []string) error {
		rows, err := tx.Query(ctx, `select name, cardinality(parameter_types) from pg_catalog.pg_prepared_statements
			where generic_plans > 0 and statement like 'with ranked as materialized%'`)
		if err != nil {
			return err
		}
		type stmt struct {
			Name   string
			Params int
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stmt])
		if err != nil {
			return err
		}
		for _, s := range list {
			args := []string{"1::bigint", "2::bigint", "'{}'::text[]"}[:s.Params]
			plan, err := tx.Query(ctx, "explain execute "+pgx.Identifier{s.Name}.Sanitize()+"("+strings.Join(args, ", ")+")")
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(plan, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, l := range lines {
				if strings.Contains(l, "Seq Scan") {
					scans = append(scans, strings.TrimSpace(l))
				}
			}
			checked++
		}
		return nil
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if checked == 0 || len(scans) > 0 {
		t.Fatalf("%d generic plans checked; whole-table scans: %q", checked, scans)
	}
}

// TestRetriesOutsideRoundsPlanEachExecution: dead-letter retries run
// outside rounds, where PostgreSQL's own plan choice could cache a generic
// plan of a fold statement made with sequential scans allowed, which the
// connection's small rounds would then reuse. They plan each execution.
// The session here prefers generic plans, as PostgreSQL's choice may come
// to after a few executions.
func TestRetriesOutsideRoundsPlanEachExecution(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	poison := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	poison["amount_due"] = "twenty"
	b.append(t, event(t, "evt_poison", "invoice.issued", at(1), map[string]any{"invoice": poison}))
	b.drain(t, 100)
	// The fix, so the retry folds the event (a failed fold's statement is
	// not kept prepared).
	if _, err := b.schema.Pool.Exec(ctx, "alter table "+pgx.Identifier{b.schema.Name, "invoices"}.Sanitize()+
		" alter column amount_due type text"); err != nil {
		t.Fatal(err)
	}

	cfg := b.schema.Pool.Config().Copy()
	cfg.MaxConns = 1 // The retry's connection is the one inspected.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	res, err := RetryDeadLetters(ctx, pool, b.schema.Name, "invoices")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Resolved) != 1 || len(res.Failed) != 0 {
		t.Fatalf("retry = %+v, want the event applied", res)
	}
	var custom, generic int64
	err = pool.QueryRow(ctx, `select coalesce(sum(custom_plans), 0), coalesce(sum(generic_plans), 0)
		from pg_catalog.pg_prepared_statements where statement like 'with ranked as materialized%'`).Scan(&custom, &generic)
	if err != nil {
		t.Fatal(err)
	}
	if custom == 0 || generic != 0 {
		t.Errorf("the retry ran the fold on %d custom and %d generic plans, want a custom plan", custom, generic)
	}
	if row := b.row(t, "invoices", "inv_1"); row[colLastEventID] != "evt_poison" {
		t.Errorf("invoice last written by %v, want evt_poison", row[colLastEventID])
	}
}
