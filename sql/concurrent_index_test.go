package sql

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

// shippedBeforeTheRule are migrations that deployments have run already
// and that build an index on events inside their transaction; they cannot
// be edited, so only later ones are held to the rule.
var shippedBeforeTheRule = map[string]bool{"001_event_log.sql": true, "002_projections.sql": true, "003_backfill.sql": true,
	"006_payload_shapes.sql": true, "008_plan_events_by_time.sql": true, "009_more_objects.sql": true}

var createIndexOnEvents = regexp.MustCompile(`(?is)create\s+(?:unique\s+)?index\b[^;]*?\bon\s+\{\{\.schema\}\}\.events\b`)

// TestEventsIndexesAreBuiltConcurrently: a migration that builds an index
// on the event log builds it concurrently, outside a transaction, with the
// statement timeout lifted, so appends go on while it builds on a large log.
func TestEventsIndexesAreBuiltConcurrently(t *testing.T) {
	entries, err := fs.ReadDir(Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		b, err := fs.ReadFile(Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(b), "---- create above / drop below ----")
		if shippedBeforeTheRule[e.Name()] || !createIndexOnEvents.MatchString(up) {
			continue
		}
		checked++
		for _, stmt := range createIndexOnEvents.FindAllString(up, -1) {
			if !regexp.MustCompile(`(?i)index\s+concurrently`).MatchString(stmt) {
				t.Errorf("%s: %q is not built concurrently", e.Name(), stmt)
			}
		}
		if !disableTxMarker.MatchString(up) || !strings.Contains(up, "set statement_timeout = 0;") {
			t.Errorf("%s: needs '---- tern: disable-tx ----' and 'set statement_timeout = 0;'", e.Name())
		}
	}
	if checked == 0 {
		t.Fatal("no migration after the rule builds an index on events: the check checked nothing")
	}
}

func TestBuildInTransaction(t *testing.T) {
	in := "---- tern: disable-tx ----\nset statement_timeout = 0;\ndrop index concurrently if exists s.i;\ncreate index CONCURRENTLY i on s.events (a);\n"
	want := "\nset statement_timeout = 0;\ndrop index if exists s.i;\ncreate index i on s.events (a);\n"
	if got := buildInTransaction(in); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if plain := "create index i on s.t (a);"; buildInTransaction(plain) != plain {
		t.Error("a migration without the marker changed")
	}
}

// TestIndexBuildOnALargeLogLetsAppendsThrough runs migration 011 as it runs
// on a large log (concurrently) in a cluster of its own, since a concurrent
// build waits for every older transaction on the server. An open snapshot
// holds the build in its wait; meanwhile an append to the log goes through,
// and a second migrating process waits its turn without deadlocking.
func TestIndexBuildOnALargeLogLetsAppendsThrough(t *testing.T) {
	t.Parallel()
	url := privateCluster(t)
	ctx := context.Background()
	force := context.WithValue(ctx, concurrentBuildMinKey{}, int64(0))
	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	const schema = "large_log"
	if err := MigrateTo(force, connect(), schema, 10); err != nil {
		t.Fatal(err)
	}
	holder := connect()
	if _, err := holder.Exec(ctx, "begin isolation level repeatable read"); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.Exec(ctx, "select 1"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		conn := connect()
		wg.Go(func() { errs[i] = Migrate(force, conn, schema) })
	}
	observer := connect()
	waitUntil(t, func() bool {
		var n int
		err := observer.QueryRow(ctx, `select count(*) from pg_stat_activity
            where query ilike 'create index concurrently%' and wait_event_type = 'Lock'`).Scan(&n)
		return err == nil && n == 1
	})
	appender := connect()
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := appender.Exec(actx, `insert into large_log.events (seq, event_id, type, created_at, body, payload, resource_type, resource_id)
        values (1, 'evt_during_build', 'customer.created', now(), '\x7b7d', '{}', 'customer', 'cus_1')`)
	if err != nil {
		t.Fatalf("an append during the index build: %v", err)
	}
	if _, err := holder.Exec(ctx, "commit"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migration %d: %v", i, err)
		}
	}
	var valid bool
	err = observer.QueryRow(ctx, `select i.indisvalid from pg_index i
        where i.indexrelid = to_regclass('large_log.events_type_resource_newest_idx')`).Scan(&valid)
	if err != nil || !valid {
		t.Fatalf("index valid = %v, %v", valid, err)
	}
	if err := CheckVersion(ctx, observer, schema); err != nil {
		t.Fatal(err)
	}
}

// privateCluster starts a PostgreSQL cluster of the test's own.
func privateCluster(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "orb-sync-sql-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dataDir := filepath.Join(dir, "data")
	url, err := pglocal.StartCluster(context.Background(), dataDir, port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pglocal.StopCluster(context.Background(), dataDir); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	return url
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
