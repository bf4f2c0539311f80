package orbsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// webhookEventsPath lists the webhook events Orb created, delivered or not.
const webhookEventsPath = "webhook_events"

// RepairOptions select the webhook events Repair reads.
type RepairOptions struct {
	// Since is the oldest created_at to read. Required.
	Since time.Time
	// UndeliveredOnly reads only events Orb has not delivered successfully
	// (delivery_success=false): the ones an outage lost, at a fraction of
	// the transfer. Otherwise every event since Since is read, which also
	// repairs a log restored from an old backup.
	UndeliveredOnly bool
}

// RepairReport counts what Repair found. Listed = Recovered + Present +
// Errors.
type RepairReport struct {
	Listed    int64 `json:"listed"`
	Recovered int64 `json:"recovered"` // Appended now, with source "recovered".
	Present   int64 `json:"present"`   // Already in the log (delivered, or recovered before).
	Errors    int64 `json:"errors"`    // No usable payload, or refused by the database; logged.
	// Oldest and Newest bound the created_at of the events listed.
	Oldest  time.Time     `json:"oldest,omitzero"`
	Newest  time.Time     `json:"newest,omitzero"`
	Elapsed time.Duration `json:"elapsed"`
}

// webhookEventItem is an item of GET /webhook_events.
type webhookEventItem struct {
	ID        string          `json:"id"`
	CreatedAt string          `json:"created_at"`
	Payload   json.RawMessage `json:"payload"`
}

// Repair reads GET /webhook_events from opts.Since and appends every event
// the log does not hold yet, marked as recovered. Each keeps Orb's original
// event id and the payload's bytes as received, so it dedupes against the
// deliveries that did arrive, and a delivery arriving later is a duplicate.
// Each page is appended in one transaction; a failed Repair can simply be
// run again.
func (r *Runner) Repair(ctx context.Context, opts RepairOptions) (RepairReport, error) {
	start := time.Now()
	if opts.Since.IsZero() {
		return RepairReport{}, errors.New("repair: a start time (Since) is required")
	}
	q := url.Values{}
	orbapi.SetTime(q, "created_at", orbapi.GTE, opts.Since)
	if opts.UndeliveredOnly {
		q.Set("delivery_success", "false")
	}
	var rep RepairReport
	err := r.client.List(ctx, webhookEventsPath, q, "", func(page orbapi.Page, _ string) error {
		pageRep, err := r.recoverPage(ctx, page.Data)
		rep.add(pageRep)
		return err
	})
	rep.Elapsed = time.Since(start)
	r.cfg.Metrics.observeRepair(rep)
	if err != nil {
		return rep, fmt.Errorf("repair: %w", err)
	}
	return rep, nil
}

// recoverPage appends the usable events of one page.
func (r *Runner) recoverPage(ctx context.Context, items []json.RawMessage) (RepairReport, error) {
	rep := RepairReport{Listed: int64(len(items))}
	events := make([]eventlog.Event, 0, len(items))
	for i, raw := range items {
		ev, createdAt, err := recoveredEvent(raw)
		if err != nil {
			rep.Errors++
			r.cfg.Logger.WarnContext(ctx, "cannot recover a webhook event", slog.Int("index", i), slog.String("error", err.Error()))
			continue
		}
		rep.widen(createdAt)
		events = append(events, ev)
	}
	if len(events) == 0 {
		return rep, nil
	}
	results, err := r.appender.AppendBatch(ctx, events)
	var refused *eventlog.BatchError
	if err != nil && !errors.As(err, &refused) {
		rep.Errors += int64(len(events))
		return rep, fmt.Errorf("appending recovered events: %w", err)
	}
	if refused != nil {
		r.cfg.Logger.ErrorContext(ctx, "recovered events refused by the database", slog.String("error", refused.Err.Error()))
	}
	c := countResults(results)
	rep.Recovered, rep.Present, rep.Errors = c.Stored, c.Duplicates, rep.Errors+c.Errors
	return rep, nil
}

// recoveredEvent turns an item of GET /webhook_events into the event its
// delivery would have appended, without the signing headers.
func recoveredEvent(raw json.RawMessage) (eventlog.Event, time.Time, error) {
	var item webhookEventItem
	if err := json.Unmarshal(raw, &item); err != nil {
		return eventlog.Event{}, time.Time{}, fmt.Errorf("decoding item: %w", err)
	}
	body := []byte(item.Payload)
	if len(body) > 0 && body[0] == '"' {
		// Tolerate a payload sent as a JSON string holding the body.
		var s string
		if err := json.Unmarshal(body, &s); err != nil {
			return eventlog.Event{}, time.Time{}, fmt.Errorf("event %s: payload: %w", item.ID, err)
		}
		body = []byte(s)
	}
	if len(body) == 0 || string(body) == "null" {
		return eventlog.Event{}, time.Time{}, fmt.Errorf("event %s has no payload", item.ID)
	}
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		return eventlog.Event{}, time.Time{}, fmt.Errorf("event %s: payload: %w", item.ID, err)
	}
	return eventlog.Event{Envelope: env, Source: eventlog.SourceRecovered, Body: body}, env.CreatedAt, nil
}

func (r *RepairReport) add(o RepairReport) {
	r.Listed += o.Listed
	r.Recovered += o.Recovered
	r.Present += o.Present
	r.Errors += o.Errors
	r.widen(o.Oldest)
	r.widen(o.Newest)
}

func (r *RepairReport) widen(t time.Time) {
	if t.IsZero() {
		return
	}
	if r.Oldest.IsZero() || t.Before(r.Oldest) {
		r.Oldest = t
	}
	if t.After(r.Newest) {
		r.Newest = t
	}
}

// String reports the counts in a sentence.
func (r RepairReport) String() string {
	s := fmt.Sprintf("listed %s webhook events: %s recovered, %s already in the log, %s errors",
		count(r.Listed), count(r.Recovered), count(r.Present), count(r.Errors))
	if !r.Oldest.IsZero() {
		s += fmt.Sprintf(" (created %s to %s)", r.Oldest.UTC().Format(time.RFC3339), r.Newest.UTC().Format(time.RFC3339))
	}
	return s
}
