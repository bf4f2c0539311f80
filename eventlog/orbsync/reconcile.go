package orbsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

const (
	// missingMargin spares objects whose newest event is this recent: they
	// may have been created (or clocks may differ) around the listing's
	// start, so their absence proves nothing yet.
	missingMargin = 5 * time.Minute
	// maxMissingFraction is the largest share of known objects one pass may
	// mark missing. More than that looks like a key for another account or
	// mode (test vs live), not deletions, and is refused.
	maxMissingFraction = 0.5
	// missingGuardMin is the count below which the fraction guard is off,
	// so a small account can still lose most of its customers.
	missingGuardMin = 10
	// staleSubscriptionsMax bounds the subscriptions refetched per pass.
	staleSubscriptionsMax = 500
)

// reconcileEntities are listed whole on every pass: the ones without
// webhooks or with id-less webhooks, and customers, whose complete listing
// also reveals deletions (FACTS.md §2.3).
var reconcileEntities = []string{"plans", "billable_metrics", "items", "coupons", "prices", "customers"}

// missingChecked are the entities whose listing is complete enough to
// conclude that an absent object is gone. Plan prices appear in the log
// (price.edited) but not in GET /prices, and archived plans, items and
// metrics may not be listed, so only customers qualify.
var missingChecked = map[string]bool{"customers": true}

// ReconcileReport counts what one Reconcile pass did.
type ReconcileReport struct {
	// Entities holds each listed entity's counts.
	Entities []EntityCounts `json:"entities"`
	// Missing is the number of reconcile.missing markers appended.
	Missing int `json:"missing"`
	// StaleSubscriptions is the number of subscriptions refetched because
	// their stored billing period had ended.
	StaleSubscriptions int           `json:"stale_subscriptions"`
	Elapsed            time.Duration `json:"elapsed"`
}

// EntityCounts is what a listing of one entity read and stored.
type EntityCounts struct {
	Entity     string `json:"entity"`
	Fetched    int64  `json:"fetched"`
	Stored     int64  `json:"stored"`
	Duplicates int64  `json:"duplicates"`
	Errors     int64  `json:"errors"`
}

// Reconcile lists the reconcile entities completely and appends a snapshot
// of every object whose state the log does not hold yet (unchanged objects
// cost nothing), marks customers that vanished with a MissingType event,
// and refetches subscriptions whose stored billing period has ended. A
// failure of one entity does not stop the others; all are reported.
func (r *Runner) Reconcile(ctx context.Context) (ReconcileReport, error) {
	start := time.Now()
	var rep ReconcileReport
	var errs []error
	// A rejected key or the end of ctx stops the pass: every further
	// request would fail the same way.
	stop := func(err error) bool { return errors.Is(err, orbapi.ErrUnauthorized) || ctx.Err() != nil }
	for _, name := range reconcileEntities {
		e, _ := LookupEntity(name)
		counts, seen, listedAt, err := r.listAll(ctx, e, OriginReconcile)
		rep.Entities = append(rep.Entities, counts)
		if err != nil {
			errs = append(errs, err)
			if stop(err) {
				break
			}
			continue
		}
		if missingChecked[name] {
			n, err := r.markMissing(ctx, e.Resource, seen, listedAt)
			rep.Missing += n
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if !slices.ContainsFunc(errs, stop) {
		n, err := r.refetchStaleSubscriptions(ctx)
		rep.StaleSubscriptions = n
		if err != nil {
			errs = append(errs, err)
		}
	}
	rep.Elapsed = time.Since(start)
	err := errors.Join(errs...)
	if err != nil {
		err = fmt.Errorf("reconcile: %w", err)
	}
	return rep, err
}

// listAll lists e from its first page, storing snapshots page by page, and
// returns the ids seen and when the listing started.
func (r *Runner) listAll(ctx context.Context, e Entity, origin string) (EntityCounts, map[string]bool, time.Time, error) {
	counts := EntityCounts{Entity: e.Name}
	seen := map[string]bool{}
	listedAt := r.readTime()
	readAt := listedAt
	err := r.client.List(ctx, e.Path, e.listQuery(time.Time{}), "", func(page orbapi.Page, _ string) error {
		for _, obj := range page.Data {
			if id, err := objectID(e.Resource, obj); err == nil {
				seen[id] = true
			}
		}
		c, err := r.writeSnapshots(ctx, snapshotBatch{resource: e.Resource, origin: origin, readAt: readAt, objects: page.Data}, nil)
		if err != nil {
			return err
		}
		r.cfg.Metrics.observeSnapshots(origin, e.Resource, c)
		counts.Fetched += int64(len(page.Data))
		counts.Stored += c.Stored
		counts.Duplicates += c.Duplicates
		counts.Errors += c.Errors
		readAt = r.readTime() // The next page is asked for now.
		return nil
	})
	if err != nil {
		return counts, nil, time.Time{}, fmt.Errorf("listing %s: %w", e.Name, err)
	}
	return counts, seen, listedAt, nil
}

// existing is an object the log says exists, with its newest event.
type existing struct {
	id, eventID string
	at          time.Time
}

// markMissing appends a MissingType marker for each object of resource the
// log says exists that a complete listing started at listedAt did not
// return.
func (r *Runner) markMissing(ctx context.Context, resource string, seen map[string]bool, listedAt time.Time) (int, error) {
	rows, err := r.pool.Query(ctx, r.q.ExistingObjects, resource)
	if err != nil {
		return 0, fmt.Errorf("reading stored %s ids: %w", resource, err)
	}
	var known int
	var gone []existing
	var o existing
	_, err = pgx.ForEachRow(rows, []any{&o.id, &o.eventID, &o.at}, func() error {
		known++
		if !seen[o.id] && o.at.Before(listedAt.Add(-missingMargin)) {
			gone = append(gone, o)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading stored %s ids: %w", resource, err)
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if len(gone) >= missingGuardMin && float64(len(gone)) > maxMissingFraction*float64(known) {
		return 0, fmt.Errorf("refusing to mark %d of %d %ss missing at once: is ORB_API_KEY for this account and mode (live or test)?",
			len(gone), known, resource)
	}
	events := make([]eventlog.Event, len(gone))
	for i, g := range gone {
		events[i] = missingMarker(resource, g.id, g.eventID, g.at, listedAt)
	}
	results, err := r.appender.AppendBatch(ctx, events)
	if err != nil {
		return 0, fmt.Errorf("appending missing markers: %w", err)
	}
	c := countResults(results)
	r.cfg.Metrics.observeMissing(resource, int(c.Stored))
	r.cfg.Logger.WarnContext(ctx, "objects vanished from Orb; appended missing markers",
		slog.String("resource", resource), slog.Int64("count", c.Stored), slog.String("first_id", gone[0].id))
	return int(c.Stored), nil
}
