package eventlog_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/webhook/webhooktest"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// BenchmarkAppendBatch measures one append transaction of n events of the
// reference mix (customer ~1 KB, subscription ~54 KB, invoice ~4 KB), the
// unit of work of the group commit. b.SetBytes makes MB/s comparable across
// batch sizes.
func BenchmarkAppendBatch(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			s := pgtest.NewSchema(b)
			a, err := eventlog.NewAppender(s.Pool, eventlog.AppenderConfig{Schema: s.Name})
			if err != nil {
				b.Fatal(err)
			}
			gen, err := webhooktest.New(1000, 1)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			next := func() []eventlog.Event {
				events := make([]eventlog.Event, n)
				for i := range events {
					_, _, body := gen.Next(webhooktest.Kinds[i%3])
					env, err := eventlog.ParseEnvelope(body)
					if err != nil {
						b.Fatal(err)
					}
					events[i] = eventlog.Event{Envelope: env, Body: body}
				}
				return events
			}
			var bytes int64
			for _, ev := range next() {
				bytes += int64(len(ev.Body))
			}
			b.SetBytes(bytes)
			for b.Loop() {
				b.StopTimer() // Building bodies is the sender's work, not the log's.
				events := next()
				b.StartTimer()
				res, err := a.AppendBatch(ctx, events)
				if err != nil || len(res) != n || res[0].Seq == 0 {
					b.Fatalf("append: %v %+v", err, res)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPrepare measures the service's own work on a recorded ~54 KB
// subscription webhook before its append: the envelope's parse, the
// body's compression and its refs, one after the other (sequential), and
// as the receiver runs them (prepared: the envelope here while
// Event.Prepare compresses and builds refs on goroutines of their own).
// On a machine with idle cores, prepared takes about the longest of the
// three instead of their sum.
func BenchmarkPrepare(b *testing.B) {
	body, err := os.ReadFile("webhook/webhooktest/fixtures/subscription.json")
	if err != nil {
		b.Fatal(err)
	}
	body = bytes.Replace(body, []byte("<subscription.type>"), []byte("subscription.edited"), 1)
	b.SetBytes(int64(len(body)))
	b.Run("envelope", func(b *testing.B) {
		for b.Loop() {
			if _, err := eventlog.ParseEnvelope(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("compress", func(b *testing.B) {
		for b.Loop() {
			if _, err := eventlog.CompressBody(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("refs", func(b *testing.B) {
		for b.Loop() {
			if _, ok := eventlog.EventRefs(body); !ok {
				b.Fatal("no refs")
			}
		}
	})
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			if _, err := eventlog.ParseEnvelope(body); err != nil {
				b.Fatal(err)
			}
			if _, err := eventlog.CompressBody(body); err != nil {
				b.Fatal(err)
			}
			if _, ok := eventlog.EventRefs(body); !ok {
				b.Fatal("no refs")
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		for b.Loop() {
			ev := eventlog.Event{Body: body}
			done := make(chan error, 1)
			go func() { done <- ev.Prepare() }()
			if _, err := eventlog.ParseEnvelope(body); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
}
