package fold

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

var update = flag.Bool("update", false, "rewrite testdata/fold/*.sql from the catalog")

// goldenSchema is the schema name the checked-in SQL is generated for: the
// default deployment's. Other schemas differ only in that name.
const goldenSchema = "orb"

// TestFoldSQLMatchesGolden: the statements each projection runs, generated
// from the catalog for the migrated tables, are checked in as
// testdata/fold/<projection>.sql, so a reviewer reads every change to what
// runs, not only to its generator. After changing the catalog, the
// generator or a projection table, regenerate them with
//
//	go test ./projector/internal/fold -run Golden -update
//
// and review the diff.
func TestFoldSQLMatchesGolden(t *testing.T) {
	t.Parallel()
	schema := pgtest.NewSchema(t)
	dir := filepath.Join("testdata", "fold")
	want := map[string]bool{}
	for _, p := range catalog {
		name := p.Name + ".sql"
		want[name] = true
		cols, err := ReadColumns(context.Background(), schema.Pool, schema.Name, p.Table)
		if err != nil {
			t.Fatal(err)
		}
		got := renderStatements(p, newSQLGen(p, goldenSchema, goldenSchema, p.Table, p.Name, cols).statements())
		checkGolden(t, filepath.Join(dir, name), got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("%s is not a projection's SQL any more: delete it", filepath.Join(dir, e.Name()))
		}
	}
}

// renderStatements lays out a projection's statements for reading.
func renderStatements(p Projection, s statements) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- Projection %s (version %d) into %s.%s: generated from the catalog\n", p.Name, p.Version, goldenSchema, p.Table)
	b.WriteString("-- (projector/internal/fold). Do not edit; regenerate with\n")
	b.WriteString("-- go test ./projector/internal/fold -run Golden -update\n")
	for _, st := range []struct{ name, doc, sql string }{
		{"apply", "fold ($1, $2] into the table; recompute late and forced ($3) entities", s.apply},
		{"candidates", "positions in ($1, $2] this projection reads (poison-event bisection)", s.candidates},
		{"entities", "entity ids of positions $1", s.entities},
		{"sample", "top-level keys of the newest full objects in ($1, $2]", s.sample},
	} {
		fmt.Fprintf(&b, "\n-- name: %s: %s\n", st.name, st.doc)
		if st.sql == "" {
			b.WriteString("-- (none)\n")
			continue
		}
		b.WriteString(strings.TrimSpace(st.sql))
		b.WriteString(";\n")
	}
	return b.String()
}

// checkGolden compares got with the file at path, or rewrites the file
// under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run: go test ./projector/internal/fold -run Golden -update)", err)
	}
	if got == string(want) {
		return
	}
	gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		g, w := line(gotLines, i), line(wantLines, i)
		if g != w {
			t.Errorf("%s: the generated SQL differs from the checked-in file at line %d:\ngenerated: %s\nchecked in: %s\n"+
				"If the change is intended, run: go test ./projector/internal/fold -run Golden -update, and review the diff.", path, i+1, g, w)
			return
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}
