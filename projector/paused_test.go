package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPausedHistory pauses two history projections halfway through a
// shuffled history: they stay at their checkpoint while the rest goes on,
// every reader of the lag leaves them out, the reads that would be
// silently old refuse, and once resumed they fold what they missed into
// the same tables as a projector that never paused.
func TestPausedHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	events := history(t, 11, 120)
	want := setup(t)
	want.appendInChunks(t, events, 20, 1000)

	b := setup(t)
	b.appendInChunks(t, events[:60], 20, 1000)
	mid, err := readHead(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	paused := []string{"subscriptions", "invoices"}
	for i := 60; i < len(events); i += 20 {
		b.append(t, events[i:i+20]...)
		b.drainWith(t, Config{PausedHistory: paused})
	}
	head, err := readHead(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	if mid >= head {
		t.Fatalf("head %d, mid %d: the paused half appended nothing", head, mid)
	}

	st, err := ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range st.Projections {
		isPaused := ps.Projection == "subscriptions_history" || ps.Projection == "invoices_history"
		switch {
		case ps.Paused != isPaused:
			t.Errorf("%s: Paused %v, want %v", ps.Projection, ps.Paused, isPaused)
		case isPaused && ps.Checkpoint != mid:
			t.Errorf("%s is paused but moved: checkpoint %d, paused at %d", ps.Projection, ps.Checkpoint, mid)
		case !isPaused && ps.Checkpoint != head:
			t.Errorf("%s is live but at %d, head %d", ps.Projection, ps.Checkpoint, head)
		case ps.LagEvents != 0 || ps.LagSeconds != 0:
			t.Errorf("%s: lag %d events, %.3f s; want 0 (caught up, or paused)", ps.Projection, ps.LagEvents, ps.LagSeconds)
		}
	}

	// Back-pressure's reading: the paused checkpoints are not the slowest.
	var names []string
	for _, p := range Projections() {
		names = append(names, p.Name)
	}
	var logHead, slowest int64
	if err := b.schema.Pool.QueryRow(ctx, sqlFor(b.schema.Name).SlowestCheckpoint, names).Scan(&logHead, &slowest); err != nil {
		t.Fatal(err)
	}
	if slowest != head {
		t.Errorf("slowest live checkpoint %d, want the head %d", slowest, head)
	}

	// The metrics, read from the database at scrape time.
	reg := prometheus.NewRegistry()
	if _, err := New(b.schema.Pool, b.config(Config{PausedHistory: paused, Metrics: NewMetrics(reg)})); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, reg, "orb_projection_paused", "subscriptions_history"); v != 1 {
		t.Errorf("orb_projection_paused{subscriptions_history} = %v, want 1", v)
	}
	if v := metricValue(t, reg, "orb_projection_paused", "customers_history"); v != 0 {
		t.Errorf("orb_projection_paused{customers_history} = %v, want 0", v)
	}
	if v := metricValue(t, reg, "orb_projection_lag_events", "subscriptions_history"); v != 0 {
		t.Errorf("orb_projection_lag_events{subscriptions_history} = %v, want 0 while paused", v)
	}

	// Reads of a paused history refuse rather than answer as of its checkpoint.
	if _, err := Changes(ctx, b.schema.Pool, b.schema.Name, "subscriptions", "sub_0"); !errors.Is(err, ErrPaused) {
		t.Errorf("Changes of a paused history: %v, want ErrPaused", err)
	}
	if list, err := Changes(ctx, b.schema.Pool, b.schema.Name, "customers", "cus_0"); err != nil || len(list) == 0 {
		t.Errorf("Changes of a live history: %d changes, %v", len(list), err)
	}
	ts := at(1000)
	into := b.schema.Name + "_paused"
	b.dropAfter(t, into)
	if _, err := Snapshot(ctx, b.schema.Pool, SnapshotConfig{Schema: b.schema.Name, Into: into, AsOf: &ts}); !errors.Is(err, ErrPaused) {
		t.Errorf("snapshot --as-of with a paused history: %v, want ErrPaused", err)
	}
	if _, err := Snapshot(ctx, b.schema.Pool, SnapshotConfig{Schema: b.schema.Name, Into: into, AtSeq: head}); err != nil {
		t.Errorf("snapshot --at-seq folds the log and needs no history: %v", err)
	}

	// Resumed: the next leader's settings clear the flags, and the history
	// catches up to what a projector that never paused wrote.
	b.drain(t, 1000)
	st, err = ReadStatus(ctx, b.schema.Pool, b.schema.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range st.Projections {
		if ps.Paused || ps.Checkpoint != head {
			t.Errorf("after resuming, %s: paused %v, checkpoint %d of %d", ps.Projection, ps.Paused, ps.Checkpoint, head)
		}
	}
	for _, p := range catalog {
		if !p.History {
			continue
		}
		got, w := b.rows(t, p.Table), want.rows(t, p.Table)
		if len(w) == 0 {
			t.Fatalf("%s is empty: the test proves nothing", p.Table)
		}
		sameRows(t, p.Table, got, w)
	}
	if got := b.versions(t, "subscriptions", "sub_0"); !slices.ContainsFunc(got, func(v version) bool { return v.To == "inf" }) {
		t.Errorf("sub_0 has no current version after resuming: %v", got)
	}
}

// TestPausedHistoryRejectsUnknownTables: a name that keeps no history is
// a configuration error, named, not a silent no-op.
func TestPausedHistoryRejectsUnknownTables(t *testing.T) {
	t.Parallel()
	_, err := New(nil, Config{Schema: "orb", PausedHistory: []string{"subscriptions", "events"}})
	if err == nil {
		t.Fatal("New accepted PausedHistory naming events")
	}
	if want := fmt.Sprintf("%q keeps no history", "events"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %s", err, want)
	}
}
