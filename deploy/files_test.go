package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestEveryFileParses reads every YAML (all documents) and JSON file here.
func TestEveryFileParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			n++
			if _, err := yamlDocs(path); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		case ".json":
			n++
			var v any
			if err := json.Unmarshal(mustRead(t, path), &v); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Fatalf("found only %d YAML/JSON files", n)
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// get walks a decoded YAML/JSON value by map keys and list indexes
// ("spec", "template", 0, ...), failing the test where the path breaks.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for i, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", path, path[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: no key %q", path, k)
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d at %v", path, k, path[:i])
			}
			v = l[k]
		}
	}
	return v
}

func list(t *testing.T, v any, path ...any) []any {
	t.Helper()
	l, _ := get(t, v, path...).([]any)
	return l
}

func str(t *testing.T, v any, path ...any) string {
	t.Helper()
	return fmt.Sprint(get(t, v, path...))
}

// dockerfile is deploy/Dockerfile's instructions, continuation lines joined.
func dockerfile() ([]string, error) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, nil
}

var goBuild = regexp.MustCompile(`go build (.*) -o (\S+) (\S+)$`)

// dockerfileBuildArgs is the Dockerfile's `go build` without its -o and
// package, build args substituted, as arguments to exec go.
func dockerfileBuildArgs(vars map[string]string) ([]string, error) {
	lines, err := dockerfile()
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		if m := goBuild.FindStringSubmatch(l); m != nil && strings.HasPrefix(l, "RUN ") {
			flags := os.Expand(m[1], func(k string) string { return vars[k] })
			return append([]string{"build"}, shellWords(flags)...), nil
		}
	}
	return nil, errors.New("no RUN ... go build ... -o OUT PKG line")
}

// shellWords splits on spaces outside double quotes and drops the quotes.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
