package projector

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// TestPoisonEventIsDeadLetteredAndOthersApply: a value that does not fit
// its column sets that one event aside; its neighbours in the batch, and
// later events of the same entity, still apply, and the checkpoint moves.
func TestPoisonEventIsDeadLetteredAndOthersApply(t *testing.T) {
	t.Parallel()
	b := setup(t)
	poison := customerObj(t, "cus_2")
	poison["balance"] = "abc"
	later := customerObj(t, "cus_2")
	later["name"] = "fixed later"
	b.append(t,
		event(t, "evt_1", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}),
		event(t, "evt_poison", "customer.edited", at(2), map[string]any{"customer": poison}),
		event(t, "evt_3", "customer.created", at(3), map[string]any{"customer": customerObj(t, "cus_3")}),
		event(t, "evt_4", "invoice.issued", at(4), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}),
	)
	reg := prometheus.NewRegistry()
	p, err := New(b.schema.Pool, b.config(Config{BatchSize: 100, Metrics: NewMetrics(reg)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	b.row(t, "customers", "cus_1")
	b.row(t, "customers", "cus_3")
	b.row(t, "invoices", "inv_1")
	if _, ok := b.rows(t, "customers")["cus_2"]; ok {
		t.Error("the poison event wrote a row")
	}
	dls, err := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	// The history folds the same event by the same rule, and sets it aside too.
	if len(dls) != 2 || dls[0].EventID != "evt_poison" || dls[0].Projection != "customers" || dls[0].SQLState != "22P02" ||
		dls[1].EventID != "evt_poison" || dls[1].Projection != "customers_history" {
		t.Fatalf("dead letters = %+v", dls)
	}
	if got := metricValue(t, reg, "orb_projection_dead_letters_total", "customers"); got != 1 {
		t.Errorf("dead_letters_total = %v", got)
	}
	st := b.waitCaughtUp(t) // Checkpoints are at the head despite the poison.
	if st.Projections[0].DeadLetters != 1 {
		t.Errorf("status dead letters = %d", st.Projections[0].DeadLetters)
	}

	// A later event of the poisoned entity applies; the poison stays out.
	b.append(t, event(t, "evt_5", "customer.edited", at(5), map[string]any{"customer": later}))
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if row := b.row(t, "customers", "cus_2"); row["name"] != "fixed later" {
		t.Errorf("later event not applied: %v", row["name"])
	}
}

// TestRetryDeadLetterAfterFix: retrying before the cause is fixed keeps the
// dead letter (with the new error); after a migration widens the column, the
// retry applies it and recomputes the entity from the log.
func TestRetryDeadLetterAfterFix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	good := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	poison := invoiceObj(t, "inv_1", "cus_1", "sub_1")
	poison["amount_due"], poison["memo"] = "twenty", "poison memo"
	b.append(t, event(t, "evt_good", "invoice.issued", at(1), map[string]any{"invoice": good}))
	b.append(t, event(t, "evt_poison", "invoice.edited", at(2), map[string]any{"invoice": poison}))
	b.drain(t, 100)
	if row := b.row(t, "invoices", "inv_1"); row[colLastEventID] != "evt_good" {
		t.Fatalf("row last written by %v", row[colLastEventID])
	}

	res, err := RetryDeadLetters(ctx, b.schema.Pool, b.schema.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	// invoices and invoices_history both set the event aside.
	if len(res.Resolved) != 0 || len(res.Failed) != 2 || res.Failed[0].Retries != 1 || res.Failed[0].ResolvedAt != nil {
		t.Fatalf("retry before the fix = %+v", res)
	}

	// The fix: amounts become text, in the table and its history.
	for _, table := range []string{"invoices", "invoices_history"} {
		if _, err := b.schema.Pool.Exec(ctx, "alter table "+pgx.Identifier{b.schema.Name, table}.Sanitize()+
			" alter column amount_due type text"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"invoices", "invoices_history"} {
		res, err = RetryDeadLetters(ctx, b.schema.Pool, b.schema.Name, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resolved) != 1 || len(res.Failed) != 0 || res.Resolved[0].ResolvedAt == nil {
			t.Fatalf("retry of %s after the fix = %+v", name, res)
		}
	}
	if row := b.row(t, "invoices", "inv_1"); row["amount_due"] != "twenty" || row[colLastEventID] != "evt_poison" {
		t.Errorf("after retry: amount_due %v, last event %v", row["amount_due"], row[colLastEventID])
	}
	if dls, _ := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, false); len(dls) != 0 {
		t.Errorf("unresolved dead letters left: %+v", dls)
	}
	// The rebuild agrees now that nothing is set aside.
	b.checkRebuildMatches(t)
}

// TestPoisonHiddenByLaterKeyIsStillDeadLettered: a bad value overridden by a
// later partial in the same fold is still set aside, so the result does
// not depend on where batches split.
func TestPoisonHiddenByLaterKeyIsStillDeadLettered(t *testing.T) {
	t.Parallel()
	bad := automationInvoice("inv_1", "abc")
	bad["memo"] = "from the poison"
	good := automationInvoice("inv_1", "5.00")
	delete(good, "memo")
	for _, size := range []int{1, 100} {
		b := setup(t)
		b.append(t, event(t, "evt_full", "invoice.issued", at(1), map[string]any{"invoice": invoiceObj(t, "inv_1", "cus_1", "sub_1")}))
		b.append(t, event(t, "evt_bad", "invoice.automation_schedule_step_executed", at(2), map[string]any{"invoice": bad}))
		b.append(t, event(t, "evt_good", "invoice.automation_schedule_step_executed", at(3), map[string]any{"invoice": good}))
		b.drain(t, size)
		row := b.row(t, "invoices", "inv_1")
		if row["memo"] == "from the poison" || row["amount_due"] != 5.0 {
			t.Errorf("batch %d: memo %v amount %v", size, row["memo"], row["amount_due"])
		}
		dls, err := ListDeadLetters(context.Background(), b.schema.Pool, b.schema.Name, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) != 2 || dls[0].EventID != "evt_bad" || dls[1].EventID != "evt_bad" { // invoices and its history
			t.Errorf("batch %d: dead letters %+v", size, dls)
		}
	}
}

// TestDeadLettersStayOutOfRebuilds: a rebuild skips unresolved dead letters
// exactly as the live path did.
func TestDeadLettersStayOutOfRebuilds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 6 {
		c := customerObj(t, fmt.Sprintf("cus_%d", i%2))
		c["name"] = fmt.Sprintf("n%d", i)
		if i == 4 {
			c["balance"] = "NaN-ish"
		}
		b.append(t, event(t, fmt.Sprintf("evt_%d", i), "customer.edited", at(i), map[string]any{"customer": c}))
	}
	b.drain(t, 2)
	if row := b.row(t, "customers", "cus_0"); row["name"] != "n2" {
		t.Errorf("cus_0 name %v, want n2 (n4 is poison)", row["name"])
	}
	b.checkRebuildMatches(t)
}

// TestAbandonedRebuildLeavesNoDeadLetters: a rebuild that dead-letters an
// event and is then cancelled before its swap must not leave that dead
// letter on the live table, which would silently leave the event out of
// its future folds. The live projector then dead-letters (and counts) it
// itself; a rebuild that does swap publishes its own dead letters with
// the swap and nothing under its shadow table's name remains.
func TestAbandonedRebuildLeavesNoDeadLetters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	poison := customerObj(t, "cus_2")
	poison["balance"] = "abc"
	b.append(t,
		event(t, "evt_1", "customer.created", at(1), map[string]any{"customer": customerObj(t, "cus_1")}),
		event(t, "evt_poison", "customer.edited", at(2), map[string]any{"customer": poison}),
		event(t, "evt_3", "customer.created", at(3), map[string]any{"customer": customerObj(t, "cus_3")}),
		event(t, "evt_4", "customer.created", at(4), map[string]any{"customer": customerObj(t, "cus_4")}),
	)
	ctx := context.Background()
	deadLetters := func() map[string]int {
		t.Helper()
		dls, err := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]int{}
		for _, dl := range withoutHistory(dls) {
			byKey[dl.Projection]++
		}
		return byKey
	}

	// A rebuild that gets past the poison event, then is cancelled.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sawPoison := false
	r := b.rebuilder(t, RebuildConfig{ChunkSize: 1, OnProgress: func(p RebuildProgress) {
		if p.Phase == PhaseFilling && p.Done >= 3 {
			sawPoison = true
			cancel()
		}
	}})
	if _, err := r.Rebuild(rctx, "customers"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rebuild returned %v", err)
	}
	if !sawPoison {
		t.Fatal("the rebuild was cancelled before it folded the poison event")
	}
	if got := deadLetters(); len(got) != 0 {
		t.Fatalf("dead letters after an abandoned rebuild: %v, want none", got)
	}

	// The live projector meets the poison event itself, and counts it.
	reg := prometheus.NewRegistry()
	p, err := New(b.schema.Pool, b.config(Config{BatchSize: 100, Metrics: NewMetrics(reg)}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "orb_projection_dead_letters_total", "customers"); got != 1 {
		t.Errorf("live dead_letters_total = %v, want 1", got)
	}

	// A rebuild that swaps leaves exactly the live table's dead letter.
	if _, err := b.rebuilder(t, RebuildConfig{}).Rebuild(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	if got := deadLetters(); fmt.Sprint(got) != "map[customers:1]" {
		t.Fatalf("dead letters after a swapped rebuild: %v, want map[customers:1]", got)
	}
	dls, err := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, false)
	if err != nil {
		t.Fatal(err)
	}
	if dls = withoutHistory(dls); len(dls) != 1 || dls[0].EventID != "evt_poison" {
		t.Fatalf("unresolved dead letters after the swap: %+v", dls)
	}
}
