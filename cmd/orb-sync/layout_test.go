package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/orb-sync/orb-sync"

// role is a package's place in the flow: sources write the log, the log
// owns its tables, readers fold it, cmd wires; tools serve development and
// tests only.
type role string

const (
	roleSchema role = "schema" // sql: the migrations, which every layer may use
	roleLeaf   role = "leaf"   // eventlog/sleep, eventlog/adminjob: import nothing of the module, every layer may use them
	roleLog    role = "log"    // eventlog
	roleSource role = "source" // eventlog/webhook, eventlog/orbsync and below
	roleReader role = "reader" // projector and below
	roleCmd    role = "cmd"    // cmd/...
	roleDeploy role = "deploy" // deploy/...: programs that run the service (soak, chaos)
	roleTool   role = "tool"   // *test packages and pglocal: never run by the service
)

// roleOf says which part of the flow a package (module-relative path) is.
func roleOf(pkg string) role {
	base := path.Base(pkg)
	switch {
	case strings.HasSuffix(base, "test") || base == "pglocal":
		return roleTool
	case pkg == "sql":
		return roleSchema
	case pkg == "eventlog/sleep" || pkg == "eventlog/adminjob":
		return roleLeaf
	case pkg == "eventlog":
		return roleLog
	case strings.HasPrefix(pkg, "eventlog/"):
		return roleSource
	case pkg == "projector" || strings.HasPrefix(pkg, "projector/"):
		return roleReader
	case strings.HasPrefix(pkg, "cmd/"):
		return roleCmd
	case pkg == "deploy" || strings.HasPrefix(pkg, "deploy/"):
		return roleDeploy
	}
	return ""
}

// source names the source a package belongs to (eventlog/webhook,
// eventlog/orbsync), so sources can be kept apart.
func source(pkg string) string {
	parts := strings.SplitN(pkg, "/", 3)
	return strings.Join(parts[:min(2, len(parts))], "/")
}

// allowed says whether package from may depend on package to, directly or
// not. Test files are not checked: an end-to-end test may cross layers.
func allowed(from, to string) bool {
	rf, rt := roleOf(from), roleOf(to)
	switch {
	case rt == roleCmd || rt == roleDeploy:
		return rf == rt // Only the wiring imports the wiring; nothing imports deploy.
	case rt == roleTool:
		// Only tools and the CLI (which wires the loadgen and
		// local-postgres subcommands) may use development tools.
		return rf == roleTool || rf == roleCmd || rf == roleDeploy
	case rf == roleTool || rf == roleCmd || rf == roleDeploy:
		return true
	case rf == roleLeaf:
		return false // A leaf imports nothing of the module.
	case rt == roleSchema || rt == roleLeaf:
		return true
	case rf == roleSchema || rf == roleLog:
		return false // The schema and the log import no source or reader.
	case rf == roleSource:
		return rt == roleLog || source(from) == source(to) // Not a reader, not another source.
	case rf == roleReader:
		return rt == roleLog || rt == roleReader // Not a source.
	}
	return false
}

// TestImportsFollowTheFlow fails when a package imports against the flow:
// the log importing a source or reader, a source importing a reader or
// another source, a reader importing a source, anything importing cmd, or
// a package the service runs importing a development tool. Indirect
// dependencies count.
func TestImportsFollowTheFlow(t *testing.T) {
	t.Parallel()
	imports := moduleImports(t, moduleRoot(t))
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		if roleOf(pkg) == "" {
			t.Errorf("package %s has no place in the flow: put it under cmd, deploy, eventlog, projector or sql, or teach roleOf", pkg)
			continue
		}
		for _, dep := range closure(imports, pkg) {
			if !allowed(pkg, dep) {
				t.Errorf("%s (%s) depends on %s (%s) against the flow; path: %s",
					pkg, roleOf(pkg), dep, roleOf(dep), strings.Join(pathTo(imports, pkg, dep), " -> "))
			}
		}
	}
}

// TestFlowRules checks the rules themselves on the cases the layout exists
// for, so a rule loosened by mistake fails here.
func TestFlowRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"eventlog/webhook", "eventlog", true},
		{"eventlog/orbsync", "eventlog/orbsync/orbapi", true},
		{"projector", "eventlog", true},
		{"projector/console", "projector", true},
		{"projector", "sql", true},
		{"cmd/orb-sync/internal/cli", "sql/pgtest/pglocal", true},
		{"eventlog/webhook/webhooktest", "eventlog/webhook", true},
		{"eventlog", "projector", false},
		{"eventlog", "eventlog/webhook", false},
		{"eventlog/webhook", "projector", false},
		{"eventlog/orbsync", "eventlog/webhook", false},
		{"projector", "eventlog/webhook", false},
		{"projector", "eventlog/orbsync/orbapi", false},
		{"projector", "cmd/orb-sync/internal/cli", false},
		{"projector", "sql/pgtest", false},
		{"eventlog/orbsync", "eventlog/orbsync/orbapi/orbapitest", false},
		{"sql", "sql/pgtest/pglocal", false},
		{"cmd/orb-sync", "cmd/orb-sync/internal/cli", true},
		{"projector/console", "cmd/orb-sync/internal/cli", false},
		{"projector", "eventlog/sleep", true},
		{"eventlog/orbsync/orbapi", "eventlog/sleep", true},
		{"eventlog/sleep", "eventlog", false},
		{"eventlog/sleep", "sql", false},
		{"projector", "eventlog/adminjob", true},
		{"eventlog/orbsync", "eventlog/adminjob", true},
		{"eventlog/adminjob", "eventlog", false},
	} {
		if got := allowed(tc.from, tc.to); got != tc.ok {
			t.Errorf("allowed(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

// moduleRoot is the directory holding go.mod, above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// moduleImports maps every package of the module (module-relative path) to
// the module packages its non-test files import.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	imports := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		imports[pkg] = append(imports[pkg], moduleDeps(f.Imports)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return imports
}

// moduleDeps returns the module-relative paths of the module's packages
// among specs.
func moduleDeps(specs []*ast.ImportSpec) []string {
	var deps []string
	for _, spec := range specs {
		p, err := strconv.Unquote(spec.Path.Value)
		if err == nil && strings.HasPrefix(p, module+"/") {
			deps = append(deps, strings.TrimPrefix(p, module+"/"))
		}
	}
	return deps
}

// closure lists every module package pkg depends on, directly or not.
func closure(imports map[string][]string, pkg string) []string {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(p string) {
		for _, dep := range imports[p] {
			if !seen[dep] {
				seen[dep] = true
				visit(dep)
			}
		}
	}
	visit(pkg)
	return slices.Sorted(maps.Keys(seen))
}

// pathTo is one import chain from pkg to dep, to show where a violation
// comes from.
func pathTo(imports map[string][]string, pkg, dep string) []string {
	prev := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == dep {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, next := range imports[p] {
			if _, ok := prev[next]; !ok {
				prev[next] = p
				queue = append(queue, next)
			}
		}
	}
	return []string{pkg, "?", dep}
}
