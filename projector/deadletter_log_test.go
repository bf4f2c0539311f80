package projector

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// TestDeadLetterLogsQuoteNoPayloadValues dead-letters an event whose bad
// value PostgreSQL quotes in its message; neither the live projector's nor
// a rebuild's log line may carry it, while the dead_letters table keeps
// the full message for the operator.
func TestDeadLetterLogsQuoteNoPayloadValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const secretValue = "PAYLOAD-VALUE-4711"
	poison := customerObj(t, "cus_2")
	poison["balance"] = secretValue
	logs := &lockedLog{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	ctx := context.Background()
	// A rebuild meets the first poison event, the live projector the second.
	b.append(t, event(t, "evt_poison_1", "customer.edited", at(2), map[string]any{"customer": poison}))
	r, err := NewRebuilder(b.schema.Pool, RebuildConfig{Schema: b.schema.Name, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rebuild(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	b.append(t, event(t, "evt_poison_2", "customer.edited", at(3), map[string]any{"customer": poison}))
	p, err := New(b.schema.Pool, b.config(Config{BatchSize: 100, Logger: logger}))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "dead-lettered") < 2 || !strings.Contains(out, "sqlstate=22P02") {
		t.Fatalf("expected a dead-letter line from the projector and the rebuild:\n%s", out)
	}
	if strings.Contains(out, secretValue) {
		t.Errorf("a payload value reached the logs:\n%s", out)
	}
	dls, err := ListDeadLetters(ctx, b.schema.Pool, b.schema.Name, false)
	if dls = withoutHistory(dls); err != nil || len(dls) != 2 || !strings.Contains(dls[0].Error, secretValue) {
		t.Errorf("the table should keep the full message: %+v, %v", dls, err)
	}
}

func TestDeadLetterLogError(t *testing.T) {
	for in, want := range map[string]string{
		`invalid input syntax for type numeric: "abc"`: `invalid input syntax for type numeric: "…"`,
		`null value in column "name" of relation "customers" violates not-null constraint (Failing row contains (cus_1, secret))`: `null value in column "name" of relation "customers" violates not-null constraint`,
		`value too long for type character varying(10)`:                                                      `value too long for type character varying(10)`,
		`duplicate key value violates unique constraint "customers_pkey" (Key (id)=(cus_1) already exists.)`: `duplicate key value violates unique constraint "customers_pkey"`,
		`parsing time "2025-13-01": month out of range`:                                                      `parsing time "…": month out of range`,
	} {
		if got := (DeadLetter{Error: in}).LogError(); got != want {
			t.Errorf("%q\n got %q\nwant %q", in, got, want)
		}
	}
}

type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
