package webhooktest

import (
	"context"
	"fmt"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// fillBatchDefault is how many events Fill commits together.
const fillBatchDefault = 500

// FillProgress is reported after every committed batch.
type FillProgress struct {
	Appended int
	Elapsed  time.Duration
}

// Fill appends n generated events (the reference mix, in turn) straight to
// the log through appender, without HTTP, to build large logs for
// benchmarks quickly. Events are about entities distinct resources per
// kind, so every resource is updated about n/(3·entities) times.
func Fill(ctx context.Context, appender *eventlog.Appender, n, entities int, progress func(FillProgress)) error {
	gen, err := New(entities, uint64(time.Now().UnixNano()))
	if err != nil {
		return err
	}
	start := time.Now()
	batch := make([]eventlog.Event, 0, fillBatchDefault)
	for done := 0; done < n; {
		batch = batch[:0]
		for len(batch) < cap(batch) && done+len(batch) < n {
			_, _, body := gen.Next(Kinds[(done+len(batch))%len(Kinds)])
			env, err := eventlog.ParseEnvelope(body)
			if err != nil {
				return fmt.Errorf("generated body does not parse: %w", err)
			}
			batch = append(batch, eventlog.Event{Envelope: env, Source: eventlog.SourceWebhook, Body: body})
		}
		if _, err := appender.AppendBatch(ctx, batch); err != nil {
			return fmt.Errorf("appending generated events: %w", err)
		}
		done += len(batch)
		if progress != nil {
			progress(FillProgress{Appended: done, Elapsed: time.Since(start)})
		}
	}
	return nil
}
