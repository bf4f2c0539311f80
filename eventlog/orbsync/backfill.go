package orbsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// Defaults for Options.
const (
	concurrencyDefault = 3
	progressLogEvery   = 10 * time.Second
)

// ErrRunning is returned by Backfill while another backfill holds the
// schema's backfill lock, in this process or another.
var ErrRunning = errors.New("another backfill is running on this schema")

// Options select what a backfill reads.
type Options struct {
	// Entities to read; empty means all of Entities.
	Entities []Entity
	// Since bounds the listings from below (created_at, or invoice_date for
	// invoices); zero reads everything. Entities without a time filter
	// (items, coupons, prices) are always read whole.
	Since time.Time
	// Restart discards stored progress and reads every entity from its
	// first page. Without it, an entity already complete is continued:
	// listed again from when its complete listing began, less
	// ContinueOverlap, so what was created since is read.
	Restart bool
	// Concurrency is how many entities are read at once; pages of one
	// entity are read in order. Defaults to 3.
	Concurrency int
	// OnProgress, if set, is called when an entity starts, after each page
	// it stores, and when it ends. Calls come from several goroutines.
	OnProgress func(EntityResult)
}

// ContinueOverlap is how far before a complete listing's start a
// continuing run lists again: objects created while that listing ran (it
// reads newest first) and clock skew between Orb and the database are
// read once more; unchanged objects cost no rows.
const ContinueOverlap = time.Hour

// Backfill reads the chosen entities from the API into the log as
// snapshots, resuming any that a previous run left unfinished and
// continuing those already complete (see Options.Restart). Each page's snapshots
// and the cursor of the next page commit together.
//
// The Summary is always filled in, also when an error is returned. A 401 or
// 403 stops every entity at once; another failure stops only its entity.
func (r *Runner) Backfill(ctx context.Context, opts Options) (Summary, error) {
	start := time.Now()
	if len(opts.Entities) == 0 {
		opts.Entities = Entities
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = concurrencyDefault
	}
	unlock, err := r.lockBackfill(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer unlock()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]EntityResult, len(opts.Entities))
	sem := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	for i, e := range opts.Entities {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = EntityResult{Entity: e.Name, Status: StatusInterrupted}
				return
			}
			results[i] = r.backfillEntity(ctx, e, opts)
			if errors.Is(results[i].Err, orbapi.ErrUnauthorized) {
				cancel(results[i].Err) // Every other request would fail the same way.
			}
		})
	}
	wg.Wait()
	sum := Summary{Entities: results, Elapsed: time.Since(start)}
	err = sum.Err()
	r.cfg.Metrics.observePass("backfill", sum.Elapsed, err, time.Now())
	return sum, err
}

// backfillEntity runs one entity's backfill to its end, its failure or the
// end of ctx.
func (r *Runner) backfillEntity(ctx context.Context, e Entity, opts Options) EntityResult {
	res := EntityResult{Entity: e.Name, Status: StatusRunning, began: time.Now()}
	p, err := r.prepare(ctx, e, opts)
	if err != nil {
		res.Status, res.Err = StatusFailed, err
		return res
	}
	res.Progress = p
	res.ContinuedFrom = p.ListFrom
	res.ResumedAtPage = p.Pages
	r.logStart(ctx, e, p)
	r.notify(opts, res)
	err = r.readPages(ctx, e, &res, opts)
	res.Elapsed = time.Since(res.began)
	switch {
	case err == nil:
		res.Status = StatusDone
		r.cfg.Logger.InfoContext(ctx, "backfill finished", progressAttrs(res)...)
	case ctx.Err() != nil:
		res.Status, res.Err = StatusInterrupted, context.Cause(ctx)
		r.cfg.Logger.InfoContext(ctx, "backfill interrupted; run it again to resume", progressAttrs(res)...)
	default:
		res.Status, res.Err = StatusFailed, err
		r.recordFailure(ctx, e.Name, err)
		r.cfg.Logger.ErrorContext(ctx, "backfill failed", append(progressAttrs(res), slog.String("error", err.Error()))...)
	}
	r.notify(opts, res)
	return res
}

// prepare decides from the stored progress whether e is continued (it is
// complete), resumed, or started over, and returns the progress to read
// from.
func (r *Runner) prepare(ctx context.Context, e Entity, opts Options) (Progress, error) {
	since := e.effectiveSince(opts.Since)
	p, found, err := r.loadProgress(ctx, e.Name)
	if err != nil {
		return Progress{}, err
	}
	switch {
	case !found || opts.Restart:
	case p.Done && covers(p.Since, since):
		from := time.Time{}
		if e.SinceFilter != "" {
			from = e.effectiveSince(p.StartedAt.Add(-ContinueOverlap))
		}
		r.cfg.Logger.InfoContext(ctx, "backfill complete earlier; continuing from when it began", slog.String("entity", e.Name),
			slog.Time("list_from", from))
		return r.resetProgress(ctx, e.Name, derefTime(p.Since), from)
	case p.Done:
		r.cfg.Logger.InfoContext(ctx, "earlier backfill covered less; reading again", slog.String("entity", e.Name),
			slog.Time("earlier_since", *p.Since))
	case sameTime(p.Since, since):
		return p, nil
	default:
		return Progress{}, fmt.Errorf("%s: an unfinished backfill %s is stored; run with that --since to resume it, or --restart to start over",
			e.Name, describeSince(p.Since))
	}
	return r.resetProgress(ctx, e.Name, since, time.Time{})
}

// readPages lists e from the stored cursor to the end, storing each page
// with the cursor of the next one. The next page is fetched while the
// current one is stored.
func (r *Runner) readPages(ctx context.Context, e Entity, res *EntityResult, opts Options) error {
	p := &res.Progress
	since := derefTime(p.Since)
	if p.ListFrom != nil {
		since = *p.ListFrom
	}
	fetchCtx, cancel := context.WithCancel(ctx)
	pages := r.prefetch(fetchCtx, e.Path, e.listQuery(since), p.Cursor)
	defer func() {
		cancel()
		for range pages { // Let the fetcher exit.
		}
	}()
	lastLog := time.Now()
	for f := range pages {
		if f.err != nil {
			return f.err
		}
		fetched := int64(len(f.page.Data))
		batch := snapshotBatch{resource: e.Resource, origin: OriginBackfill, readAt: f.readAt, objects: f.page.Data}
		c, err := r.writeSnapshots(ctx, batch, func(ctx context.Context, tx pgx.Tx, c writeCounts) error {
			return r.advance(ctx, tx, p, f.page.NextCursor, !f.page.HasMore, fetched, c)
		})
		if err != nil {
			return err
		}
		res.RunPages++
		res.RunFetched += fetched
		res.Run.add(c)
		res.Elapsed = time.Since(res.began)
		r.cfg.Metrics.observeSnapshots(OriginBackfill, e.Resource, c)
		r.cfg.Metrics.observePage(e.Name)
		r.notify(opts, *res)
		if time.Since(lastLog) >= progressLogEvery {
			lastLog = time.Now()
			r.cfg.Logger.InfoContext(ctx, "backfill progress", progressAttrs(*res)...)
		} else {
			r.cfg.Logger.DebugContext(ctx, "backfill page stored", progressAttrs(*res)...)
		}
		if p.Done {
			return nil
		}
	}
	return context.Cause(ctx) // The fetcher stopped without an answer: ctx ended.
}

// fetchedPage is one list answer and when it was asked for.
type fetchedPage struct {
	page   orbapi.Page
	readAt time.Time
	err    error
}

// prefetch lists path from cursor in a goroutine, one page ahead of the
// reader. The channel closes after the last page, the first error, or the
// end of ctx.
func (r *Runner) prefetch(ctx context.Context, path string, q map[string][]string, cursor string) <-chan fetchedPage {
	ch := make(chan fetchedPage, 1)
	go func() {
		defer close(ch)
		for {
			readAt := r.readTime()
			page, err := r.client.ListPage(ctx, path, q, cursor)
			if err == nil && page.HasMore && page.NextCursor == cursor {
				err = fmt.Errorf("listing %s: next_cursor repeats the cursor", path)
			}
			select {
			case ch <- fetchedPage{page: page, readAt: readAt, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil || !page.HasMore {
				return
			}
			cursor = page.NextCursor
		}
	}()
	return ch
}

// lockBackfill takes the schema's backfill lock on a connection of its own
// for the length of the backfill, so two backfills (two CLI runs, or the
// CLI and serve's admin endpoint) never interleave pages.
func (r *Runner) lockBackfill(ctx context.Context) (func(), error) {
	unlock, err := r.tryLock(ctx, "orb-sync:backfill:"+r.cfg.Schema)
	if errors.Is(err, errLocked) {
		return nil, ErrRunning
	}
	if err != nil {
		return nil, fmt.Errorf("taking the backfill lock: %w", err)
	}
	return unlock, nil
}

func (r *Runner) notify(opts Options, res EntityResult) {
	if opts.OnProgress != nil {
		opts.OnProgress(res)
	}
}

func (r *Runner) logStart(ctx context.Context, e Entity, p Progress) {
	msg := "backfill started"
	if p.Pages > 0 {
		msg = "backfill resumed"
	}
	since := "all"
	if p.Since != nil {
		since = p.Since.UTC().Format(time.RFC3339Nano)
	}
	r.cfg.Logger.InfoContext(ctx, msg, slog.String("entity", e.Name), slog.String("since", since), slog.Int64("pages_done", p.Pages))
}

func progressAttrs(res EntityResult) []any {
	p := res.Progress
	attrs := []any{slog.String("entity", res.Entity), slog.Int64("pages", p.Pages), slog.Int64("fetched", p.Fetched),
		slog.Int64("stored", p.Stored), slog.Int64("duplicates", p.Duplicates), slog.Int64("errors", p.Errors)}
	if s := res.Elapsed.Seconds(); s > 0 {
		attrs = append(attrs, slog.Float64("objects_per_second", float64(res.RunFetched)/s))
	}
	return attrs
}

// covers reports whether a complete listing from done includes everything a
// listing from want would return.
func covers(done *time.Time, want time.Time) bool {
	return done == nil || (!want.IsZero() && !want.Before(*done))
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

func sameTime(stored *time.Time, t time.Time) bool {
	if stored == nil {
		return t.IsZero()
	}
	return !t.IsZero() && stored.Equal(t)
}

func describeSince(since *time.Time) string {
	if since == nil {
		return "of everything"
	}
	return "since " + since.UTC().Format(time.RFC3339Nano)
}
