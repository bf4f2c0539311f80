package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// readmeAuditBlocks returns the code blocks of the README's Audit section,
// in order: what the section shows is what this test runs.
func readmeAuditBlocks(t *testing.T) (sqls []string, shell []string) {
	t.Helper()
	raw, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "\n## Audit")
	if start < 0 {
		t.Fatal("README has no Audit section")
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	// The questions come before the benchmarks' commands.
	if end := strings.Index(section, "\n### Audit performance"); end >= 0 {
		section = section[:end]
	}
	for _, m := range regexp.MustCompile("(?s)```(sql|sh)\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if m[1] == "sql" {
			sqls = append(sqls, m[2])
		} else {
			shell = append(shell, m[2])
		}
	}
	return sqls, shell
}

// fixture builds signed webhooks about a small account, times relative to
// now so "last week" and "last quarter" mean what they say.
type fixture struct {
	t       *testing.T
	events  []eventlog.Event
	n, nInv int
}

func (f *fixture) add(typ string, at time.Time, fields map[string]any) string {
	f.n++
	id := fmt.Sprintf("evt_%d", f.n)
	if strings.HasPrefix(typ, "invoice.") {
		f.nInv++
		id = fmt.Sprintf("evt_invoice_%d", f.nInv)
	}
	payload := map[string]any{"id": id, "type": typ, "created_at": at.UTC().Format(time.RFC3339Nano), "properties": map[string]any{}}
	for k, v := range fields {
		payload[k] = v
	}
	body, err := json.Marshal(payload)
	if err != nil {
		f.t.Fatal(err)
	}
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		f.t.Fatal(err)
	}
	stamp := webhook.FormatTimestamp(at)
	f.events = append(f.events, eventlog.Event{Envelope: env, Source: eventlog.SourceWebhook, Body: body,
		OrbTimestamp: stamp, OrbSignature: "v1=" + eventlog.Sign(testSigningSecret, stamp, body)})
	return id
}

func fixedPrice(cadence, amount string, quantity int) map[string]any {
	return map[string]any{"id": "price_" + cadence + amount, "price_type": "fixed_price", "model_type": "unit", "cadence": cadence,
		"fixed_price_quantity": quantity, "unit_config": map[string]any{"unit_amount": amount}}
}

var (
	planBasic = map[string]any{"id": "plan_basic", "name": "Basic", "prices": []any{fixedPrice("monthly", "20.00", 1),
		map[string]any{"id": "price_usage", "price_type": "usage_price", "model_type": "unit", "cadence": "monthly",
			"unit_config": map[string]any{"unit_amount": "0.01"}}}}
	planPro = map[string]any{"id": "plan_pro", "name": "Pro", "prices": []any{fixedPrice("monthly", "50.00", 2),
		fixedPrice("annual", "120.00", 1)}}
)

func subscription(id, status string, plan map[string]any) map[string]any {
	return map[string]any{"subscription": map[string]any{"id": id, "status": status, "plan": plan, "price_intervals": []any{},
		"customer": map[string]any{"id": "cus_" + id, "external_customer_id": nil}}}
}

func customer(id, name, balance string) map[string]any {
	return map[string]any{"customer": map[string]any{"id": id, "name": name, "balance": balance, "currency": "USD"}}
}

func invoice(status string) map[string]any {
	return map[string]any{"invoice": map[string]any{"id": "inv_1", "status": status, "total": "220.00", "line_items": []any{},
		"customer": map[string]any{"id": "cus_sub_1", "external_customer_id": nil}}}
}

// TestAuditReadmeQuestions runs every query of the README's Audit section
// against fixtures and checks the answers.
func TestAuditReadmeQuestions(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	monthStart := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }
	quarterStart := time.Date(now.Year(), time.Month((int(now.Month())-1)/3*3+1), 1, 0, 0, 0, 0, time.UTC)
	weekStart := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).
		AddDate(0, 0, -((int(now.Weekday()) + 6) % 7)) // Monday.
	day := 24 * time.Hour
	planChange := quarterStart.Add(-30*day + 12*time.Hour) // Last quarter.

	f := &fixture{t: t}
	f.add("subscription.created", now.Add(-300*day), subscription("sub_1", "active", planBasic))
	f.add("subscription.created", now.Add(-250*day), subscription("sub_2", "active", planPro))
	f.add("subscription.created", now.Add(-249*day), subscription("sub_3", "active", planBasic))
	f.add("subscription.ended", now.Add(-240*day), subscription("sub_3", "ended", planBasic))
	f.add("subscription.plan_changed", planChange, subscription("sub_1", "active", planPro))
	f.add("subscription.edited", planChange.Add(time.Hour), subscription("sub_1", "active", planPro)) // No change.

	f.add("customer.created", now.Add(-20*day), customer("cus_neg", "Negative", "10.00"))
	f.add("customer.edited", weekStart.Add(-5*day), customer("cus_neg", "Negative", "-5.00"))
	f.add("customer.created", now.Add(-40*day), customer("cus_old", "Old", "-3.00"))
	f.add("customer.edited", weekStart.Add(-12*day), customer("cus_old", "Old", "-4.00"))
	f.add("customer.created", time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC), customer("cus_1", "June name", "0.00"))
	f.add("customer.edited", time.Date(2025, 6, 30, 23, 0, 0, 0, time.UTC), customer("cus_1", "Late June name", "0.00"))
	f.add("customer.edited", time.Date(2025, 7, 15, 9, 0, 0, 0, time.UTC), customer("cus_1", "July name", "0.00"))

	issued := f.add("invoice.issued", now.Add(-60*day), invoice("issued"))
	f.add("invoice.payment_failed", now.Add(-59*day), invoice("issued"))
	paid := f.add("invoice.payment_succeeded", now.Add(-58*day), invoice("paid"))

	s := pgtest.NewSchema(t)
	a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	a.Start()
	_, err = a.AppendBatch(context.Background(), f.events)
	a.Stop()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": s.URL, "DATABASE_SCHEMA": s.Name, "LOG_FORMAT": "text", "ORB_WEBHOOK_SECRET": testSigningSecret}
	if code, stdout, stderr := runCLI(t, env, "reproject", "--all"); code != 0 {
		t.Fatalf("reproject: %d\n%s\n%s", code, stdout, stderr)
	}

	sqls, shell := readmeAuditBlocks(t)
	if len(sqls) != 5 || len(shell) != 1 {
		t.Fatalf("README Audit section: %d SQL and %d shell blocks, want 5 and 1", len(sqls), len(shell))
	}
	query := func(i int) []string {
		t.Helper()
		q := regexp.MustCompile(`\borb\.`).ReplaceAllString(sqls[i], pgx.Identifier{s.Name}.Sanitize()+".")
		rows, err := s.Pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("README query %d: %v\n%s", i+1, err, q)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			var cells []string
			for _, v := range vals {
				cells = append(cells, cell(v))
			}
			out = append(out, strings.Join(cells, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}

	// MRR: before the plan change sub_1 is on Basic (20), sub_2 on Pro
	// (2 × 50 + 120 / 12 = 110); at the last month end both are on Pro.
	mrr := query(0)
	before := monthStart(planChange).AddDate(0, 0, -1).Format(time.DateOnly)
	last := monthStart(now).AddDate(0, 0, -1).Format(time.DateOnly)
	want := []string{before + "|plan_basic|Basic|1|20", before + "|plan_pro|Pro|1|110", last + "|plan_pro|Pro|2|220"}
	for _, w := range want {
		if !contains(mrr, w) {
			t.Errorf("MRR lacks %q:\n%s", w, strings.Join(mrr, "\n"))
		}
	}
	for _, row := range mrr {
		if strings.HasPrefix(row, last) && strings.Contains(row, "Basic") {
			t.Errorf("MRR row %q: sub_3 ended and sub_1 moved to Pro", row)
		}
	}

	if got := query(1); len(got) != 2 || !strings.Contains(got[0], issued+"|webhook|null|issued") ||
		!strings.Contains(got[1], paid+"|webhook|issued|paid") {
		t.Errorf("invoice status changes:\n%s", strings.Join(got, "\n"))
	}
	if got := query(2); len(got) != 1 || !strings.HasPrefix(got[0], "cus_neg|Negative|") || !strings.Contains(got[0], "|10|-5|") {
		t.Errorf("balance fell below zero last week:\n%s", strings.Join(got, "\n"))
	}
	if got := query(3); len(got) != 1 || !strings.HasPrefix(got[0], "sub_1|") ||
		!strings.HasSuffix(got[0], "|subscription.plan_changed|plan_basic|plan_pro|Pro") {
		t.Errorf("plan changes last quarter:\n%s", strings.Join(got, "\n"))
	}
	if got := query(4); len(got) != 1 || !strings.Contains(got[0], "|Late June name|") {
		t.Errorf("cus_1 on 2025-06-30:\n%s", strings.Join(got, "\n"))
	}

	args := strings.Fields(strings.SplitN(shell[0], "#", 2)[0])
	if args[0] != "orb-sync" {
		t.Fatalf("shell block: %q", shell[0])
	}
	code, stdout, stderr := runCLI(t, env, args[1:]...)
	if code != 0 || !strings.Contains(stdout, `"outcome":"valid"`) || !strings.Contains(stdout, `"event_id":"evt_invoice_1`) {
		t.Errorf("%s: %d\n%s\n%s", shell[0], code, stdout, stderr)
	}

	// The same answers from the other commands.
	code, stdout, stderr = runCLI(t, env, "history", "invoices", "inv_1")
	if code != 0 || strings.Count(stdout, "invoice.") != 3 || !strings.Contains(stdout, `status: "issued" → "paid"`) ||
		!strings.Contains(stdout, "invoice.payment_failed  evt_invoice_2 (webhook, seq 15): no change") {
		t.Errorf("history invoices inv_1: %d\n%s\n%s", code, stdout, stderr)
	}
	snap := s.Name + "_books"
	t.Cleanup(func() { pgtest.DropSchema(t, snap) })
	code, stdout, stderr = runCLI(t, env, "snapshot", "--as-of", "2025-07-01", "--into", snap)
	var name string
	if code != 0 || s.Pool.QueryRow(context.Background(), "select name from "+pgx.Identifier{snap, "customers"}.Sanitize()+
		" where id = 'cus_1'").Scan(&name) != nil || name != "Late June name" {
		t.Errorf("snapshot --as-of 2025-07-01: %d %q\n%s\n%s", code, name, stdout, stderr)
	}
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format(time.DateOnly)
		}
		return x.UTC().Format(time.RFC3339Nano)
	case pgtype.Numeric:
		f, err := x.Float64Value()
		if err != nil || !f.Valid {
			return "null"
		}
		return strconv.FormatFloat(f.Float64, 'f', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.Trim(string(b), `"`)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
