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

// A history version takes a jsonb value alike byte for byte in the
// current version from it, still compressed, instead of compressing the
// event's copy again (storedDatums in package fold). The stored bytes
// cannot be told apart from the same bytes compressed anew, except by
// their compression: the test switches the history's plan column between
// pglz and lz4 before every step, so a plan written anew takes the method
// the column has then, and a plan taken from the version before keeps
// that version's. Only the same bytes are taken: 1.0 then 1.00 (equal
// jsonb) writes the new spelling.
func TestHistoryVersionsKeepStoredBytes(t *testing.T) {
	t.Parallel()
	steps := []struct {
		typ, name, netTerms string
		planKept            bool // the plan is the stored one of the version before
	}{
		{"subscription.edited", "Pro", "1.0", false},
		{"subscription.edited", "Pro", "1.0", true},
		{"snapshot.subscription", "Pro", "1.0", true}, // Another source, the same bytes.
		{"subscription.edited", "Pro", "1.00", false}, // Equal as jsonb, not the same bytes.
		{"subscription.edited", "Pro", "1.00", true},
		{"subscription.edited", "Pro renamed", "1.00", false},
	}
	b := setup(t)
	ctx := context.Background()
	hist := pgx.Identifier{b.schema.Name, "subscriptions_history"}.Sanitize()
	other := map[string]string{"lz4": "pglz", "pglz": "lz4"}
	method := "pglz" // The plan column's compression for the next step.
	var prev string  // The compression of the version before's plan.
	for i, st := range steps {
		if _, err := b.schema.Pool.Exec(ctx, "alter table "+hist+" alter column plan set compression "+method); err != nil {
			t.Fatal(err)
		}
		ev := planEdit(t, i, st.name, st.netTerms)
		if st.typ != ev.Type { // The same object, spelled as it is, in another event.
			var payload struct{ Subscription json.RawMessage }
			if err := json.Unmarshal(ev.Body, &payload); err != nil {
				t.Fatal(err)
			}
			ev = event(t, "evt_"+strconv.Itoa(i), st.typ, at(i+1), map[string]any{"subscription": payload.Subscription})
		}
		b.append(t, ev)
		b.drain(t, 1) // Folded onto the current version.
		var n int
		var name, netTerms string
		var compression *string
		if err := b.schema.Pool.QueryRow(ctx, "select count(*) over (), plan ->> 'name', (plan -> 'net_terms')::text, pg_column_compression(plan) from "+
			hist+" where id = 'sub_1' order by valid_from desc, last_event_seq desc limit 1").Scan(&n, &name, &netTerms, &compression); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("step %d: %d versions, want %d", i, n, i+1)
		}
		if name != st.name || netTerms != st.netTerms {
			t.Errorf("step %d: plan name %q net_terms %s, want %q %s", i, name, netTerms, st.name, st.netTerms)
		}
		if compression == nil {
			t.Fatalf("step %d: the plan is not compressed; the test would prove nothing", i)
		}
		want := method
		if st.planKept {
			want = prev
		}
		if *compression != want {
			t.Errorf("step %d: the plan is compressed with %s, want %s (kept: %v)", i, *compression, want, st.planKept)
		}
		prev, method = *compression, other[*compression]
	}
	b.checkHistoryMatchesCurrent(t)
	b.checkRebuildMatches(t)
}
