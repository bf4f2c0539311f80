package sql_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	orbsql "github.com/orb-sync/orb-sync/sql"
	"github.com/orb-sync/orb-sync/sql/pgtest"
)

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmptySchema(t)
	ctx := context.Background()
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if err := orbsql.Migrate(ctx, conn.Conn(), s.Name); err != nil {
		t.Fatal(err)
	}
	if err := orbsql.CheckVersion(ctx, s.Pool, s.Name); err != nil {
		t.Fatal(err)
	}
	if err := orbsql.MigrateTo(ctx, conn.Conn(), s.Name, 0); err != nil {
		t.Fatal(err)
	}
	if err := orbsql.CheckVersion(ctx, s.Pool, s.Name); !errors.Is(err, orbsql.ErrSchemaBehind) {
		t.Fatalf("after migrating down, CheckVersion = %v", err)
	}
	if err := orbsql.Migrate(ctx, conn.Conn(), s.Name); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateConcurrently starts several migrators on an empty schema at
// once, as replicas starting together do: all succeed, each migration runs
// once.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	s := pgtest.NewEmptySchema(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			conn, err := s.Pool.Acquire(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Release()
			errs[i] = orbsql.Migrate(ctx, conn.Conn(), s.Name)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	if err := orbsql.CheckVersion(ctx, s.Pool, s.Name); err != nil {
		t.Fatal(err)
	}
	var heads int
	if err := s.Pool.QueryRow(ctx, "select count(*) from "+s.Name+".log_head").Scan(&heads); err != nil || heads != 1 {
		t.Fatalf("log_head rows = %d, %v; want exactly 1 (migration ran once)", heads, err)
	}
}

func TestValidateSchema(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"orb": true, "orb_live": true, "Orb": false, "orb-live": false, "1orb": false, `orb"; drop`: false, "": false} {
		if err := orbsql.ValidateSchema(name); (err == nil) != ok {
			t.Errorf("ValidateSchema(%q) = %v", name, err)
		}
	}
}
