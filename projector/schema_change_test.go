package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/eventlog"
)

// customersWithAutoIssuance returns n customer.edited events over 4
// customers whose payload carries auto_issuance: true for even ones, or
// for odd ones when flip is set.
func customersWithAutoIssuance(t *testing.T, from, n int, flip bool) []eventlog.Event {
	events := make([]eventlog.Event, n)
	for i := range n {
		c := customerObj(t, fmt.Sprintf("cus_%d", (from+i)%4))
		c["auto_issuance"] = ((from+i)%2 == 0) != flip
		events[i] = event(t, fmt.Sprintf("evt_ai_%05d", from+i), "customer.edited", at(from+i), map[string]any{"customer": c})
	}
	return events
}

// TestSchemaChangeWalkThrough is the README's story. Orb sends a field the
// table has no column for; it stays in the log. A migration adds the column
// (and a generated one) while the service runs; verify shows that history
// lacks it; reproject fills it for every historical row, and from then on
// the live projector writes it too.
func TestSchemaChangeWalkThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	customers := pgx.Identifier{b.schema.Name, "customers"}.Sanitize()
	exec := func(sql string) {
		t.Helper()
		if _, err := b.schema.Pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	// The schema of the release before the migration: no such column.
	exec("alter table " + customers + " drop column auto_issuance")
	b.start(t, Config{})
	b.append(t, customersWithAutoIssuance(t, 0, 12, false)...)
	b.waitCaughtUp(t)

	// The new migration, applied while the service runs.
	exec("alter table " + customers + " add column auto_issuance boolean," +
		" add column email_domain text generated always as (split_part(email, '@', 2)) stored")
	results, err := Verify(ctx, b.schema.Pool, b.schema.Name, []string{"customers"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r := results[0]; r.Differences != 4 || !strings.Contains(fmt.Sprint(r.Examples), "auto_issuance (live null, log ") {
		t.Fatalf("verify before the rebuild: %d differences %v, want the 4 customers' auto_issuance", r.Differences, r.Examples)
	}

	// reproject customers: every historical row gets its value.
	if _, err := b.rebuilder(t, RebuildConfig{}).Rebuild(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]bool) {
		t.Helper()
		rows := b.rows(t, "customers")
		for id, w := range want {
			if got := rows[id]["auto_issuance"]; got != w {
				t.Errorf("%s: %s auto_issuance = %v, want %v", when, id, got, w)
			}
			if got := rows[id]["email_domain"]; got != "test.com" {
				t.Errorf("%s: %s email_domain = %v, want test.com", when, id, got)
			}
		}
	}
	check("after the rebuild", map[string]bool{"cus_0": true, "cus_1": false, "cus_2": true, "cus_3": false})

	// The live projector compiled customers before the column existed; it
	// follows the swapped table and writes the column from now on.
	b.append(t, customersWithAutoIssuance(t, 12, 4, true)...)
	b.waitCaughtUp(t)
	check("after new events", map[string]bool{"cus_0": false, "cus_1": true, "cus_2": false, "cus_3": true})
	b.checkVerifies(t)
}

// TestVersionChangeRebuildsOnStart: a table built by an older version of
// its projection (a release changed the definition) is rebuilt by the
// leader on start, with no manual step; the others, and a table built by a
// newer version, are left alone.
func TestVersionChangeRebuildsOnStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.append(t, history(t, 9, 120)...)
	b.drain(t, 1000)
	// What the previous release built differs from what this one builds.
	for _, stmt := range []string{
		"update %s.customers set name = 'built by version 0'",
		"update %s.projection_checkpoints set version = 0 where projection = 'customers'",
		"update %s.projection_checkpoints set version = version + 1 where projection = 'invoices'",
	} {
		if _, err := b.schema.Pool.Exec(ctx, fmt.Sprintf(stmt, pgx.Identifier{b.schema.Name}.Sanitize())); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	b.start(t, Config{RebuildMetrics: NewRebuildMetrics(reg)})
	// The run is counted after the swap and the old table's drop.
	waitFor(t, "customers to be rebuilt", func() bool {
		return metricValue(t, reg, "orb_rebuild_runs_total", "customers", "swapped") == 1
	})
	st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Projections[0]; p.StoredVersion != p.Version {
		t.Errorf("customers stored version %d after the rebuild, want %d", p.StoredVersion, p.Version)
	}
	for id, row := range b.rows(t, "customers") {
		if row["name"] == "built by version 0" {
			t.Errorf("%s still has the old version's name", id)
		}
	}
	if got := metricValue(t, reg, "orb_rebuild_runs_total", "invoices", "swapped"); got != 0 {
		t.Errorf("invoices (built by a newer version) rebuilt %v times, want 0", got)
	}
	b.waitCaughtUp(t)
	b.checkVerifies(t)
	if got := metricValue(t, reg, "orb_rebuild_runs_total", "customers", "swapped"); got != 1 {
		t.Errorf("customers rebuilt %v times, want once", got)
	}
}
