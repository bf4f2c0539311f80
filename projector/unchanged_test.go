package projector

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// A current-table fold writes an unchanged jsonb value back as the stored
// datum, so PostgreSQL keeps its TOAST pointer (sqlgen.go). These tests
// make sure that shortcut never keeps a value that changed: a new plan
// after unchanged ones lands, and so does a number spelled anew (1.0 to
// 1.00 are equal jsonb, but not the same bytes: a rebuild would show the
// new spelling).

// planEdit is a subscription.edited event whose plan has the given name
// and net_terms, spelled exactly as given.
func planEdit(t *testing.T, i int, name, netTerms string) eventlog.Event {
	t.Helper()
	s := subscriptionObj(t, "sub_1", "cus_1", "plan_1")
	s["metadata"] = map[string]any{"edit": strconv.Itoa(i)} // Every edit changes something.
	plan := s["plan"].(map[string]any)
	plan["name"] = name
	plan["net_terms"] = json.Number(netTerms)
	return event(t, "evt_"+strconv.Itoa(i), "subscription.edited", at(i+1), map[string]any{"subscription": s})
}

func TestUnchangedValuesKeepTheirStoredBytes(t *testing.T) {
	t.Parallel()
	steps := []struct {
		name, netTerms string
		planKept       bool // the plan is the one of the step before
	}{
		{"Pro", "1.0", false},
		{"Pro", "1.0", true},
		{"Pro", "1.00", false}, // Equal as jsonb, not the same bytes.
		{"Pro", "1.00", true},
		{"Pro renamed", "1.00", false},
		{"Pro renamed", "1.00", true},
	}
	b := setup(t)
	ctx := context.Background()
	q := "select plan ->> 'name', (plan -> 'net_terms')::text from " + pgx.Identifier{b.schema.Name, "subscriptions"}.Sanitize() + " where id = 'sub_1'"
	var before []int64
	for i, st := range steps {
		b.append(t, planEdit(t, i, st.name, st.netTerms))
		b.drain(t, 1) // Folded onto the stored row.
		var name, netTerms string
		if err := b.schema.Pool.QueryRow(ctx, q).Scan(&name, &netTerms); err != nil {
			t.Fatal(err)
		}
		if name != st.name || netTerms != st.netTerms {
			t.Errorf("step %d: plan name %q net_terms %s, want %q %s", i, name, netTerms, st.name, st.netTerms)
		}
		toast := b.toastValues(t, "subscriptions")
		if len(toast) == 0 {
			t.Fatalf("step %d: nothing of subscriptions is TOASTed; the test would prove nothing", i)
		}
		if st.planKept && !slices.Equal(toast, before) {
			t.Errorf("step %d: unchanged values were written again (TOAST values %v, before %v)", i, toast, before)
		}
		before = toast
	}
	b.checkRebuildMatches(t)
}

// toastValues lists the values stored in table's TOAST relation: a value
// written again gets a new id.
func (b *testBundle) toastValues(t *testing.T, table string) []int64 {
	t.Helper()
	ctx := context.Background()
	var nspname, relname string
	if err := b.schema.Pool.QueryRow(ctx, `select n.nspname, c.relname from pg_catalog.pg_class c
		join pg_catalog.pg_namespace n on n.oid = c.relnamespace
		where c.oid = (select reltoastrelid from pg_catalog.pg_class where oid = $1::regclass)`,
		pgx.Identifier{b.schema.Name, table}.Sanitize()).Scan(&nspname, &relname); err != nil {
		t.Fatal(err)
	}
	rows, err := b.schema.Pool.Query(ctx, "select distinct chunk_id::bigint from "+pgx.Identifier{nspname, relname}.Sanitize()+" order by 1")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
