package orbsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// refetchBatchDefault is how many log events one refetch pass reads.
const refetchBatchDefault = 500

// target is one object to read again: GET <path>/<id>, stored as a
// snapshot of resource.
type target struct {
	resource, path, id string
}

// refetchPlan is what a batch of log events asks to read again, each
// object once however many events asked for it.
type refetchPlan struct {
	targets    []target
	allMetrics bool
}

func (p *refetchPlan) add(t target) {
	for _, have := range p.targets {
		if have == t {
			return
		}
	}
	p.targets = append(p.targets, t)
}

// logEvent is what the refetch rules need to know about a log event.
type logEvent struct {
	seq                       int64
	typ, source, resource, id string
	invoiceHasLineItems       bool
	subscriptionHasIntervals  bool
	periodEnd, externalPlanID string
}

// planRefetches applies the rules for payloads that cannot be trusted as
// the object's current state (FACTS.md §2.2, §2.3) to a batch of events.
// Snapshots are never a reason to refetch.
func planRefetches(events []logEvent, now time.Time) refetchPlan {
	var p refetchPlan
	for _, ev := range events {
		if ev.source == "snapshot" {
			continue
		}
		switch {
		case ev.typ == "customer.balance_transaction_created" && ev.id != "":
			// Same-timestamp bursts carry stale balances.
			p.add(target{"customer", "customers", ev.id})
		case ev.typ == "billable_metric.edited" && ev.id == "":
			// Seen without an id: which metric changed is unknown.
			p.allMetrics = true
		case ev.resource == "invoice" && ev.id != "" && (ev.typ == "invoice.invoice_date_elapsed" || !ev.invoiceHasLineItems):
			// Minified, partial or summary invoice, or only its id.
			p.add(target{"invoice", "invoices", ev.id})
		case ev.resource == "subscription" && ev.id != "" && (!ev.subscriptionHasIntervals || periodEnded(ev.periodEnd, now)):
			// Lightweight or summary subscription, or one whose billing
			// period has already ended (no webhook announces the next).
			p.add(target{"subscription", "subscriptions", ev.id})
		case ev.resource == "plan" && ev.id != "":
			// plan.* webhooks carry only {id, external_plan_id, name}.
			p.add(target{"plan", "plans", ev.id})
		case ev.resource == "plan" && ev.externalPlanID != "":
			p.add(target{"plan", "plans/external_plan_id", ev.externalPlanID})
		}
	}
	return p
}

// periodEnded reports whether an Orb timestamp is before now.
func periodEnded(end string, now time.Time) bool {
	if end == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, end)
	return err == nil && t.Before(now)
}

// refetchPass reads up to limit log events after position after, reads
// again the objects they ask for, and returns the position reached. A
// failure to read an object (other than 404: it is gone, and reconcile
// will tell) leaves the position where it was, so the pass is retried.
func (r *Runner) refetchPass(ctx context.Context, after int64, limit int) (int64, int, error) {
	events, err := r.eventsAfter(ctx, after, limit)
	if err != nil || len(events) == 0 {
		return after, 0, err
	}
	plan := planRefetches(events, r.cfg.Now())
	n := 0
	for _, t := range plan.targets {
		ok, err := r.refetch(ctx, t, OriginRefetch)
		if err != nil {
			return after, n, err
		}
		if ok {
			n++
		}
	}
	if plan.allMetrics {
		e, _ := LookupEntity("billable_metrics")
		counts, _, _, err := r.listAll(ctx, e, OriginRefetch)
		if err != nil {
			return after, n, err
		}
		n += int(counts.Fetched)
	}
	return events[len(events)-1].seq, n, nil
}

// refetch reads one object and stores it as a snapshot if its state is
// new. It reports false, without error, when the object no longer exists.
func (r *Runner) refetch(ctx context.Context, t target, origin string) (bool, error) {
	readAt := r.readTime()
	obj, err := r.client.Get(ctx, t.path, t.id)
	if errors.Is(err, orbapi.ErrNotFound) {
		r.cfg.Logger.InfoContext(ctx, "object to refetch is gone", slog.String("resource", t.resource), slog.String("id", t.id))
		return false, nil
	}
	if permanent(err) {
		// Asking again will not help; one such object must not hold up
		// every refetch after it.
		r.cfg.Logger.WarnContext(ctx, "cannot refetch object; skipped", slog.String("resource", t.resource),
			slog.String("id", t.id), slog.String("error", err.Error()))
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c, err := r.writeSnapshots(ctx, snapshotBatch{resource: t.resource, origin: origin, readAt: readAt, objects: []json.RawMessage{obj}}, nil)
	if err != nil {
		return false, err
	}
	r.cfg.Metrics.observeSnapshots(origin, t.resource, c)
	return true, nil
}

// permanent reports whether err is an answer from Orb that no retry will
// change: a 4xx other than a rejected key (401/403, fixed by the operator)
// and the retryable 408, 409 and 429.
func permanent(err error) bool {
	var apiErr *orbapi.APIError
	if !errors.As(err, &apiErr) || errors.Is(err, orbapi.ErrUnauthorized) {
		return false
	}
	switch apiErr.Status {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return false
	}
	return apiErr.Status >= 400 && apiErr.Status < 500
}

// refetchStaleSubscriptions reads again the subscriptions whose newest
// stored state is active with a billing period that has ended.
func (r *Runner) refetchStaleSubscriptions(ctx context.Context) (int, error) {
	rows, err := r.pool.Query(ctx, r.q.StaleSubscriptions, r.cfg.Now(), staleSubscriptionsMax)
	if err != nil {
		return 0, fmt.Errorf("finding stale subscriptions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("finding stale subscriptions: %w", err)
	}
	n := 0
	for _, id := range ids {
		ok, err := r.refetch(ctx, target{"subscription", "subscriptions", id}, OriginReconcile)
		if err != nil {
			return n, fmt.Errorf("refetching stale subscriptions: %w", err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// eventsAfter reads what the refetch rules need about the events after seq.
func (r *Runner) eventsAfter(ctx context.Context, seq int64, limit int) ([]logEvent, error) {
	rows, err := r.pool.Query(ctx, r.q.EventsAfter, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the log after %d: %w", seq, err)
	}
	var out []logEvent
	var ev logEvent
	_, err = pgx.ForEachRow(rows, []any{&ev.seq, &ev.typ, &ev.source, &ev.resource, &ev.id,
		&ev.invoiceHasLineItems, &ev.subscriptionHasIntervals, &ev.periodEnd, &ev.externalPlanID}, func() error {
		out = append(out, ev)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the log after %d: %w", seq, err)
	}
	return out, nil
}
