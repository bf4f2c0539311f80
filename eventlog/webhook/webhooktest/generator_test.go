package webhooktest

import (
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

func TestGeneratorBodiesAreValidEvents(t *testing.T) {
	t.Parallel()
	g, err := New(10, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sizes := map[Kind]int{}
	for i := range 30 {
		kind := Kinds[i%3]
		typ, id, body := g.Next(kind)
		env, err := eventlog.ParseEnvelope(body)
		if err != nil {
			t.Fatalf("%s body does not parse: %v", kind, err)
		}
		if env.ID != id || env.Type != typ || env.ResourceID == "" {
			t.Fatalf("envelope %+v for id %s type %s", env, id, typ)
		}
		if seen[id] {
			t.Fatalf("event id %s repeated", id)
		}
		seen[id] = true
		sizes[kind] = len(body)
	}
	// The reference mix: ~1 KB customers, ~54 KB subscriptions, ~4 KB invoices.
	if sizes[Customer] < 700 || sizes[Customer] > 2000 || sizes[Subscription] < 45000 || sizes[Invoice] < 3000 || sizes[Invoice] > 6000 {
		t.Fatalf("body sizes %v differ from the reference mix", sizes)
	}
}

// TestGeneratorCreatedAtIsDistinct: events generated while the clock stands
// still (or within one microsecond) still get increasing created_at, so
// two deliveries of the same events in different orders fold alike.
func TestGeneratorCreatedAtIsDistinct(t *testing.T) {
	t.Parallel()
	g, err := New(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	frozen := time.Date(2026, 12, 1, 16, 44, 16, 732460_100, time.UTC)
	g.clock = func() time.Time { return frozen }
	var prev time.Time
	for i := range 6 {
		_, _, body := g.Next(Kinds[i%3])
		env, err := eventlog.ParseEnvelope(body)
		if err != nil {
			t.Fatal(err)
		}
		if !env.CreatedAt.After(prev) {
			t.Fatalf("event %d created at %s, not after %s", i, env.CreatedAt, prev)
		}
		prev = env.CreatedAt
	}
	if want := frozen.Truncate(time.Microsecond).Add(5 * time.Microsecond); !prev.Equal(want) {
		t.Fatalf("sixth created_at %s, want %s", prev, want)
	}
}
