package webhooktest

import (
	"testing"

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
