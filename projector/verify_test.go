package projector

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestVerifyFindsHandEdits: a clean table verifies; a changed column, a
// deleted row and an invented row are each found and named.
func TestVerifyFindsHandEdits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.append(t, history(t, 21, 120)...)
	b.drain(t, 1000)
	b.checkVerifies(t)

	s := pgx.Identifier{b.schema.Name}.Sanitize()
	for _, stmt := range []string{
		"update %s.customers set name = 'by hand' where id = 'cus_1'",
		"delete from %s.invoices where id = 'inv_2'",
		"insert into %s.plans (id, last_event_id, last_event_seq, last_event_at) values ('plan_invented', 'evt_x', 1, now())",
	} {
		if _, err := b.schema.Pool.Exec(ctx, fmt.Sprintf(stmt, s)); err != nil {
			t.Fatal(err)
		}
	}
	results, err := Verify(ctx, b.schema.Pool, b.schema.Name, []string{"customers", "invoices", "plans", "credit_notes"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"customers":    `cus_1: name (live "by hand", log "`,
		"invoices":     "inv_2: missing",
		"plans":        "plan_invented: extra",
		"credit_notes": "",
	}
	for _, r := range results {
		w := want[r.Table]
		switch {
		case w == "" && !r.OK():
			t.Errorf("%s: %d differences %v, want none", r.Table, r.Differences, r.Examples)
		case w != "" && (r.Differences != 1 || len(r.Examples) != 1 || !strings.HasPrefix(r.Examples[0].String(), w)):
			t.Errorf("%s: %d differences %v, want one: %s…", r.Table, r.Differences, r.Examples, w)
		}
	}
}

// TestVerifyUnderConcurrentProjection verifies while events arrive and the
// live projector applies them: the table, its checkpoint and the log are
// read in one snapshot, so nothing differs.
func TestVerifyUnderConcurrentProjection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(t, Config{BatchSize: 7})
	b.append(t, history(t, 23, 80)...)
	stop := b.ingest(customerEvents(t, 100, 2000))
	for range 3 {
		b.checkVerifies(t)
	}
	if stop() == 0 {
		t.Error("nothing was appended during verify")
	}
}
