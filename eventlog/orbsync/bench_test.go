package orbsync

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBackfill measures a backfill of customers (the ~1 KB sample
// customer, FACTS.md samples) from the fake API over local HTTP with no
// client rate limit: what the figure shows is orb-sync's own cost per
// object (HTTP decode, dedup lookup, append, progress), not Orb's. With the
// default rate limit of 20 requests/s and 100 objects a page, a backfill
// cannot go faster than 2,000 objects/s, however fast this is.
//
//	first:     an empty log; every object is stored.
//	unchanged: --restart over a log that holds every object already (the
//	           steady state of reconcile); nothing is stored.
func BenchmarkBackfill(b *testing.B) {
	const objects = 10_000
	for _, mode := range []string{"first", "unchanged"} {
		b.Run("objects=10000/"+mode, func(b *testing.B) {
			bundle := setup(b, testOpts{pageSize: 100})
			putCustomers(b, bundle.srv, objects)
			customers, _ := ParseEntities([]string{"customers"})
			ctx := context.Background()
			if mode == "unchanged" {
				if _, err := bundle.runner.Backfill(ctx, Options{Entities: customers}); err != nil {
					b.Fatal(err)
				}
			}
			var took time.Duration
			for b.Loop() {
				runner := bundle.runner
				if mode == "first" {
					// A fresh schema per round, set up off the clock.
					b.StopTimer()
					runner = setup(b, testOpts{pageSize: 100}).runner
					runner.client = bundle.runner.client
					b.StartTimer()
				}
				start := time.Now()
				sum, err := runner.Backfill(ctx, Options{Entities: customers, Restart: true})
				took += time.Since(start)
				if err != nil || sum.Entities[0].Progress.Fetched != objects {
					b.Fatalf("%v: %+v", err, sum.Entities[0].Progress)
				}
			}
			b.ReportMetric(float64(objects*b.N)/took.Seconds(), "objects/s")
		})
	}
}
