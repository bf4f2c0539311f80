package sql

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/jackc/pgx/v5"
)

// Static SQL lives in named files, one statement each, under
// queries/<package path>/<name>.sql (queries/eventlog/lock_head.sql is
// package eventlog's lock_head), so a review shows the SQL that runs as
// SQL. A file is a template with the same data as a migration:
//
//	{{.schema}}       the schema as an identifier, quoted by pgx.Identifier:
//	                  select seq from {{.schema}}.log_head
//	{{.schema_name}}  the bare name, only inside a string literal (quotes
//	                  in it are doubled): pg_notify('{{.schema_name}}_events', '')
//
// Values are never templated: they are parameters ($1, $2, …).
//
// A package declares its statements as a struct whose string fields each
// name one file with a tag, and loads them once, at package initialization:
//
//	type queries struct {
//		LockHead string `sql:"lock_head"`
//	}
//
//	var sqlFiles = orbsql.MustQueries[queries]("eventlog")
//
//	q := sqlFiles.For(schema) // q.LockHead is the statement for schema
//
// MustQueries panics, so every test of the package and the binary's start
// fail, when a field names a file that is missing, when a file in the
// directory has no field (unused), or when a file is not a valid template.

//go:embed queries
var queriesFS embed.FS

// Queries is one package's parsed statement files; For fills them in.
type Queries[T any] struct {
	dir    string
	fields []queryField
	cache  sync.Map // schema → T
}

type queryField struct {
	index int
	tmpl  *template.Template
}

// MustQueries parses the files of queries/dir into the string fields of
// T, each named by its `sql:"name"` tag (the file name without .sql). It
// panics when a field's file is missing, when a file has no field, or when
// a file does not render: call it in a package-level var, so the mistake
// stops every test of the package.
func MustQueries[T any](dir string) *Queries[T] {
	q, err := loadQueries[T](queriesFS, dir)
	if err != nil {
		panic(err)
	}
	return q
}

func loadQueries[T any](fsys fs.FS, dir string) (*Queries[T], error) {
	typ := reflect.TypeFor[T]()
	if typ.Kind() != reflect.Struct {
		return nil, fmt.Errorf("queries %s: %s is not a struct", dir, typ)
	}
	root := path.Join("queries", dir)
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("queries %s: %w", dir, err)
	}
	var unused []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			unused = append(unused, strings.TrimSuffix(e.Name(), ".sql"))
		}
	}
	q := &Queries[T]{dir: dir}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, ok := f.Tag.Lookup("sql")
		if !ok {
			continue
		}
		if f.Type.Kind() != reflect.String || !f.IsExported() {
			return nil, fmt.Errorf("queries %s: field %s must be an exported string", dir, f.Name)
		}
		text, err := fs.ReadFile(fsys, path.Join(root, name+".sql"))
		if err != nil {
			return nil, fmt.Errorf("queries %s: field %s: %w", dir, f.Name, err)
		}
		tmpl, err := template.New(name).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("queries %s: %w", dir, err)
		}
		q.fields = append(q.fields, queryField{index: i, tmpl: tmpl})
		unused = slices.DeleteFunc(unused, func(s string) bool { return s == name })
	}
	if len(unused) > 0 {
		return nil, fmt.Errorf("queries %s: no field uses %s.sql", dir, strings.Join(unused, ".sql, "))
	}
	// Render once now, so a template that cannot render fails here too.
	if _, err := q.render(DefaultSchema); err != nil {
		return nil, err
	}
	return q, nil
}

// For returns the statements with schema filled in. It renders them once
// per schema; later calls return the same statements.
func (q *Queries[T]) For(schema string) T {
	if v, ok := q.cache.Load(schema); ok {
		return v.(T)
	}
	v, err := q.render(schema)
	if err != nil {
		// MustQueries rendered every file already, with the same keys.
		panic(err)
	}
	q.cache.Store(schema, v)
	return v
}

func (q *Queries[T]) render(schema string) (T, error) {
	var out T
	data := map[string]string{
		"schema":      pgx.Identifier{schema}.Sanitize(),
		"schema_name": strings.ReplaceAll(schema, "'", "''"),
	}
	v := reflect.ValueOf(&out).Elem()
	var buf bytes.Buffer
	for _, f := range q.fields {
		buf.Reset()
		if err := f.tmpl.Execute(&buf, data); err != nil {
			return out, fmt.Errorf("queries %s: %w", q.dir, err)
		}
		v.Field(f.index).SetString(strings.TrimSpace(buf.String()))
	}
	return out, nil
}
