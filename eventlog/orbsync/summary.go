package orbsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orb-sync/orb-sync/eventlog/orbsync/orbapi"
)

// Status is where an entity's backfill stands.
type Status string

// The statuses of an EntityResult.
const (
	StatusRunning     Status = "running"
	StatusDone        Status = "done"
	StatusFailed      Status = "failed"
	StatusInterrupted Status = "interrupted"
)

// EntityResult is what a backfill did for one entity.
type EntityResult struct {
	Entity string
	Status Status
	// Progress is the stored progress after this run: counts over every
	// run of this backfill, resumed ones included.
	Progress Progress
	// ResumedAtPage is the number of pages earlier runs had stored; 0 when
	// this run started from the first page.
	ResumedAtPage int64
	// ContinuedFrom is set when this listing continues a complete one: it
	// lists what was created from then on (nil: the whole entity again).
	ContinuedFrom *time.Time
	// RunPages, RunFetched and Run count this run alone.
	RunPages, RunFetched int64
	Run                  writeCounts
	// Err says why the entity failed or was interrupted.
	Err error
	// Elapsed is the time this run has spent on the entity so far.
	Elapsed time.Duration
	began   time.Time
}

// Summary is the outcome of a backfill, entity by entity.
type Summary struct {
	Entities []EntityResult
	Elapsed  time.Duration
}

// Err returns nil when every entity is complete, else an error naming the
// entities that are not; a rejected API key is returned as such.
func (s Summary) Err() error {
	var failed, interrupted []string
	var errs []error
	for _, e := range s.Entities {
		switch e.Status {
		case StatusFailed:
			if errors.Is(e.Err, orbapi.ErrUnauthorized) {
				return fmt.Errorf("backfill stopped: %w", e.Err)
			}
			failed = append(failed, e.Entity)
			errs = append(errs, fmt.Errorf("%s: %w", e.Entity, e.Err))
		case StatusInterrupted:
			interrupted = append(interrupted, e.Entity)
		}
	}
	switch {
	case len(failed) > 0:
		return fmt.Errorf("backfill of %s failed (run again to resume): %w", strings.Join(failed, ", "), errors.Join(errs...))
	case len(interrupted) > 0:
		return fmt.Errorf("backfill of %s interrupted; run again to resume: %w", strings.Join(interrupted, ", "), context.Canceled)
	}
	return nil
}

// WriteTable prints the summary as a table, one row per entity, with the
// counts of the whole backfill and, for resumed entities, of this run.
func (s Summary) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "entity\tstatus\tpages\tfetched\tstored\tduplicates\terrors\t")
	var total Progress
	for _, e := range s.Entities {
		p := e.Progress
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.Entity, e.Status, count(p.Pages), count(p.Fetched),
			count(p.Stored), count(p.Duplicates), count(p.Errors))
		total.Pages += p.Pages
		total.Fetched += p.Fetched
		total.Stored += p.Stored
		total.Duplicates += p.Duplicates
		total.Errors += p.Errors
	}
	fmt.Fprintf(tw, "total\t\t%s\t%s\t%s\t%s\t%s\t\n", count(total.Pages), count(total.Fetched), count(total.Stored),
		count(total.Duplicates), count(total.Errors))
	_ = tw.Flush() // Writes to w; its errors are the caller's to see.

	var run int64
	for _, e := range s.Entities {
		run += e.RunFetched
		if e.ResumedAtPage > 0 {
			fmt.Fprintf(w, "%s: resumed after page %d; this run fetched %s (%s stored, %s duplicates, %s errors).\n",
				e.Entity, e.ResumedAtPage, count(e.RunFetched), count(e.Run.Stored), count(e.Run.Duplicates), count(e.Run.Errors))
		}
		if e.ContinuedFrom != nil && e.ResumedAtPage == 0 && e.Status == StatusDone {
			fmt.Fprintf(w, "%s: continued the complete backfill from %s: %s new or changed, %s unchanged.\n", e.Entity,
				e.ContinuedFrom.UTC().Format(time.RFC3339), count(e.Run.Stored), count(e.Run.Duplicates))
		}
		if e.Err != nil && e.Status == StatusFailed {
			fmt.Fprintf(w, "%s: %v\n", e.Entity, e.Err)
		}
	}
	rate := ""
	if s.Elapsed > 0 {
		rate = fmt.Sprintf(", %s objects/s", count(int64(float64(run)/s.Elapsed.Seconds())))
	}
	fmt.Fprintf(w, "This run fetched %s objects in %s%s. Duplicates are objects whose state the log already held; errors are objects without an id or refused by the database (see the log).\n",
		count(run), s.Elapsed.Round(time.Millisecond), rate)
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
