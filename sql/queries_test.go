package sql

import (
	"go/build"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

type testQueries struct {
	Head  string `sql:"head"`
	Other string // no tag: not a statement
}

func TestQueriesRenderSchema(t *testing.T) {
	fsys := fstest.MapFS{
		"queries/pkg/head.sql": {Data: []byte("-- why\nselect seq from {{.schema}}.log_head, pg_notify('{{.schema_name}}_events', '')\n")},
	}
	q, err := loadQueries[testQueries](fsys, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	for schema, want := range map[string]string{
		"orb":   `-- why` + "\n" + `select seq from "orb".log_head, pg_notify('orb_events', '')`,
		`a"b'c`: `-- why` + "\n" + `select seq from "a""b'c".log_head, pg_notify('a"b''c_events', '')`,
	} {
		if got := q.For(schema).Head; got != want {
			t.Errorf("For(%q).Head = %q, want %q", schema, got, want)
		}
	}
}

func TestQueriesRefuseMistakes(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"missing file": {"queries/pkg/other.sql": {Data: []byte("select 1")}},
		"unused file": {
			"queries/pkg/head.sql":   {Data: []byte("select 1")},
			"queries/pkg/unused.sql": {Data: []byte("select 2")},
		},
		"unknown key":  {"queries/pkg/head.sql": {Data: []byte("select * from {{.schma}}.events")}},
		"bad template": {"queries/pkg/head.sql": {Data: []byte("select {{")}},
		"no directory": {"queries/other/head.sql": {Data: []byte("select 1")}},
	} {
		if _, err := loadQueries[testQueries](fsys, "pkg"); err == nil {
			t.Errorf("%s: loaded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// TestEveryQueryDirectoryIsLoaded: each directory of statement files is
// loaded by the package at the same path (MustQueries checks each file is
// used), so no directory of statements can be left behind by a move.
func TestEveryQueryDirectoryIsLoaded(t *testing.T) {
	err := fs.WalkDir(queriesFS, "queries", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == "queries" {
			return err
		}
		entries, err := fs.ReadDir(queriesFS, p)
		if err != nil {
			return err
		}
		hasSQL := false
		for _, e := range entries {
			hasSQL = hasSQL || strings.HasSuffix(e.Name(), ".sql")
		}
		if !hasSQL {
			return nil
		}
		dir := strings.TrimPrefix(p, "queries/")
		pkg, err := build.ImportDir(filepath.Join("..", filepath.FromSlash(dir)), 0)
		if err != nil {
			t.Errorf("%s: no package at %s: %v", p, dir, err)
			return nil
		}
		for _, f := range pkg.GoFiles {
			src, err := os.ReadFile(filepath.Join(pkg.Dir, f))
			if err != nil {
				return err
			}
			if strings.Contains(string(src), "MustQueries[") && strings.Contains(string(src), `("`+path.Clean(dir)+`")`) {
				return nil
			}
		}
		t.Errorf("%s: package %s never loads it with MustQueries", p, dir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
