package sql

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/sql/pgtest/pglocal"
)

// shippedBeforeTheRule are migrations that deployments have run already
// and that build an index on events inside their transaction. They run on
// an empty log (the first release), so only later ones are held to the rule.
var shippedBeforeTheRule = map[string]bool{"001_event_log.sql": true, "002_projections.sql": true, "003_backfill.sql": true}

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

// TestIndexBuildOnALargeLogLetsAppendsThrough runs every migration after
// 005 as it runs on a large log (indexes on events built concurrently) in
// a cluster of its own, since a concurrent build waits for every older
// transaction on the server. An open snapshot holds the first build in its
// wait; meanwhile an append to the log goes through, and a second migrating
// process waits its turn without deadlocking.
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
	if err := MigrateTo(force, connect(), schema, 5); err != nil {
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
	var indexes, invalid []string
	err = observer.QueryRow(ctx, `select array_agg(c.relname::text order by c.relname),
            coalesce(array_agg(c.relname::text) filter (where not i.indisvalid), '{}')
        from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = 'large_log.events'::regclass`).Scan(&indexes, &invalid)
	if err != nil || len(invalid) > 0 {
		t.Fatalf("invalid indexes on events: %v, %v", invalid, err)
	}
	for _, want := range []string{"events_subscription_customer_idx", "events_subscription_plan_idx",
		"events_ledger_block_idx", "events_payment_method_customer_idx", "events_type_resource_newest_idx"} {
		if !slices.Contains(indexes, want) {
			t.Errorf("index %s missing; events has %v", want, indexes)
		}
	}
	if err := CheckVersion(ctx, observer, schema); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentMigrationsRunAgain: a migration that runs outside a
// transaction can fail half-way (a lost connection, a cancelled build) and
// leave some of its statements done; tern then runs it again from the
// start. Each such migration, run again after it completed, succeeds and
// leaves the schema as one run does.
func TestConcurrentMigrationsRunAgain(t *testing.T) {
	t.Parallel()
	url := privateCluster(t)
	ctx := context.Background()
	force := context.WithValue(ctx, concurrentBuildMinKey{}, int64(0))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	entries, err := fs.ReadDir(Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for i, e := range entries {
		b, err := fs.ReadFile(Migrations(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !disableTxMarker.Match(b) {
			continue
		}
		version := int32(i + 1)
		schema := fmt.Sprintf("again_%d", version)
		if err := MigrateTo(force, conn, schema, version); err != nil {
			t.Fatal(err)
		}
		once := schemaShape(t, conn, schema)
		if _, err := conn.Exec(ctx, "update "+schema+".schema_version set version = $1", version-1); err != nil {
			t.Fatal(err)
		}
		if err := MigrateTo(force, conn, schema, version); err != nil {
			t.Errorf("%s run again: %v", e.Name(), err)
			continue
		}
		if twice := schemaShape(t, conn, schema); twice != once {
			t.Errorf("%s run again changed the schema:\nonce:  %s\ntwice: %s", e.Name(), once, twice)
		}
		ran++
	}
	if ran < 4 {
		t.Fatalf("ran %d migrations outside a transaction, want at least 4 (006, 008, 009, 011)", ran)
	}
}

// schemaShape describes a schema's columns, indexes (with validity) and
// functions in one comparable string.
func schemaShape(t *testing.T, conn *pgx.Conn, schema string) string {
	t.Helper()
	var shape string
	err := conn.QueryRow(context.Background(), `select concat_ws(E'\n',
        (select string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(generation_expression, ''), ', ' order by table_name, column_name)
         from information_schema.columns where table_schema = $1),
        (select string_agg(indexname || ' ' || indexdef || ' ' || i.indisvalid, ', ' order by indexname)
         from pg_indexes x join pg_index i on i.indexrelid = format('%I.%I', x.schemaname, x.indexname)::regclass
         where x.schemaname = $1),
        (select string_agg(p.proname || ' ' || md5(p.prosrc), ', ' order by p.proname)
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1))`, schema).Scan(&shape)
	if err != nil {
		t.Fatal(err)
	}
	return shape
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
