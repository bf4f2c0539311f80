package fold

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

func TestCatalogIsValid(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, p := range catalog {
		if err := p.validate(); err != nil {
			t.Error(err)
		}
		if names[p.Name] {
			t.Errorf("projection %s declared twice", p.Name)
		}
		names[p.Name] = true
	}
	known := KnownTypes()
	for _, typ := range ignoredTypes {
		for _, p := range catalog {
			if p.Types() != nil && containsType(p, typ) {
				t.Errorf("%s is both ignored and read by %s", typ, p.Name)
			}
		}
		if !known[typ] {
			t.Errorf("%s missing from KnownTypes", typ)
		}
	}
}

func containsType(p Projection, typ string) bool {
	for _, t := range p.Types() {
		if t == typ {
			return true
		}
	}
	return false
}

// TestLateLookupsUseAnIndex: recomputing an entity after a late event finds
// its history by index, for every source, or a late event would scan the
// whole log.
func TestLateLookupsUseAnIndex(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	ctx := context.Background()
	tx, err := schema.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Leave the planner only the entity indexes (or a scan, which it then
	// avoids): with an empty log its choice among usable indexes is
	// arbitrary. The drops are rolled back.
	for _, stmt := range []string{
		"set local enable_seqscan = off",
		"drop index " + pgx.Identifier{schema.Name, "events_type_created_at_idx"}.Sanitize(),
		"drop index " + pgx.Identifier{schema.Name, "events_created_at_idx"}.Sanitize(),
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	g := &sqlGen{schema: schema.Name, events: pgx.Identifier{schema.Name, "events"}.Sanitize()}
	for _, p := range catalog {
		for i, s := range p.Sources {
			where := strings.ReplaceAll(g.lookupWhere(s), "l.ids", "$1::text[]")
			q := "explain select e.seq from " + g.events + " e" + sourceFrom(s) + " where " + where + " and e.type = any (" + orbsql.TextArray(s.Types) + ")"
			rows, err := tx.Query(ctx, q, []string{"x"})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"e.resource_id": "events_resource_idx",
				"e.event_id":    "events_event_id_key",
				"((coalesce(e.refs, e.payload) -> 'subscription' -> 'plan') ->> 'id')":                                   "events_subscription_plan_idx",
				"((coalesce(e.refs, e.payload) -> 'subscription' -> 'customer') ->> 'id')":                               "events_subscription_customer_idx",
				"((e.payload -> 'payment_method') ->> 'customer_id')":                                                    "events_payment_method_customer_idx",
				"((e.payload -> 'properties' -> 'block') ->> 'id')":                                                      "events_ledger_block_idx",
				"((e.payload -> 'properties' -> 'balance_transaction') ->> 'id')":                                        "events_balance_transaction_idx",
				"jsonb_path_query_array(coalesce(e.refs, e.payload) -> 'subscription', '$.plan.prices[*].id')":           "events_subscription_plan_prices_idx",
				"jsonb_path_query_array(coalesce(e.refs, e.payload) -> 'subscription', '$.price_intervals[*].price.id')": "events_subscription_interval_prices_idx",
				"jsonb_path_query_array(e.payload -> 'plan', '$.prices[*].id')":                                          "events_plan_prices_idx",
			}[lookupExpr(s)]
			if joined := strings.Join(plan, "\n"); want == "" || !strings.Contains(joined, want) {
				t.Errorf("%s source %d does not look entities up by index %q:\n%s", p.Name, i, want, joined)
			}
		}
	}
}

// TestREADMEListsEveryEventType: the README's table of Orb's 79 webhook
// types names exactly the types the catalog reads or knowingly ignores.
func TestREADMEListsEveryEventType(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "### Every Orb webhook type")
	if !ok {
		t.Fatal("README has no section on every webhook type")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.Contains(cells[1], "`") {
			continue
		}
		for _, m := range regexp.MustCompile("`([a-z_.]+)`").FindAllStringSubmatch(cells[1], -1) {
			if listed[m[1]] {
				t.Errorf("README lists %s twice", m[1])
			}
			listed[m[1]] = true
		}
	}
	webhook := map[string]bool{}
	for typ := range KnownTypes() {
		if !strings.HasPrefix(typ, "snapshot.") && !strings.HasPrefix(typ, "reconcile.") {
			webhook[typ] = true
		}
	}
	for typ := range webhook {
		if !listed[typ] {
			t.Errorf("README does not say where %s goes", typ)
		}
	}
	for typ := range listed {
		if !webhook[typ] {
			t.Errorf("README lists %s, which the catalog does not know", typ)
		}
	}
	if len(webhook) != 79 {
		t.Errorf("the catalog knows %d webhook types, Orb has 79", len(webhook))
	}
}
