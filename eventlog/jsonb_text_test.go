package eventlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// jsonbTextCases are values whose jsonb text is easy to get wrong:
// numbers numeric_in rewrites, escapes escape_json rewrites, key order
// and repeated keys, empty and nested containers.
var jsonbTextCases = []string{
	`1`, `1.0`, `1.50`, `0`, `0.0`, `-0`, `-0.0`, `-0.5`, `-1`, `1e2`, `1E+2`, `1.5e1`, `0e0`, `-0e-0`,
	`123456789012345678901234567890.5`, `0.000000000000000000000000000001`, `01`, `1.`, `.5`, `+1`, `1x`,
	`true`, `false`, `null`, `nul`, `tru`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"/"`, `"\b\f\n\r\t"`, `"\u0001\u001f\u007f\u0080"`, `"\u0000"`,
	`"\u00e9"`, `"é"`, `"\u00E9"`, `"\ud83d\ude00"`, `"😀"`, `"\ud83d"`, `"\ude00"`, `"\ud83d\u0041"`, `"\ud83dx"`,
	`"\x"`, `"\u12"`, `"\u12g4"`, "\"\x01\"", "\"\xff\"", "\"\xed\xa0\x80\"", `"a\u0022b"`, `"\u005c"`,
	`{}`, `[]`, `[{}]`, `{"a": {}}`, `[[], [[]], {}]`, `{"b": 1, "a": 2}`, `{"aa": 1, "b": 2}`, `{"b": 1, "aa": 2, "a": 3}`,
	`{"a": 1, "a": 2}`, `{"a": 1, "b": 0, "a": {"c": null}}`, `{"k": {"x": 1, "x": [1, 2]}, "k": 3}`,
	`{"\u0061": 1, "a": 2}`, `{"é": 1, "z": 2, "zz": 3, "\u00e9": 4}`, `{"B": 1, "a": 2, "_": 3}`,
	`{"a\"": "\\", "": null}`, ` { "a" : [ 1 , 2.50 , "x" ] , "b":{"c":null} } `,
	`{"id": "price_1", "unit_config": {"unit_amount": "1.00"}, "fixed_price_quantity": 1.0, "metadata": {}, "item": {"id": "i", "name": "N\u00e4me \"q\""}}`,
	`{"a": [1, 2,]}`, `{"a" 1}`, `{"a": 1,}`, `[1 2]`,
	wideObject(maxInsertionSort + 20),
}

// wideObject is an object of n members, more than jsonbText orders by
// insertion, with keys of several lengths out of order and repeated.
func wideObject(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"%s": %d`, strings.Repeat("k", 1+(i*7)%5)+fmt.Sprint((i*13)%29), i)
	}
	b.WriteString("}")
	return b.String()
}

// fingerprintOracle compares fingerprint with PostgreSQL's md5(v::text).
type fingerprintOracle struct {
	schema *pgtest.Schema
}

// check fails t if fingerprint vouches for v with another fingerprint
// than PostgreSQL's, and reports whether PostgreSQL accepts v and
// whether fingerprint vouched.
func (o *fingerprintOracle) check(t *testing.T, v []byte) (valid, vouched bool) {
	t.Helper()
	var want string
	err := o.schema.Pool.QueryRow(context.Background(),
		"select md5((convert_from($1::bytea, 'UTF8')::jsonb)::text)", v).Scan(&want)
	if err != nil && !IsDataError(err) {
		t.Fatal(err)
	}
	start := skipSpace(v, 0)
	d := jsonDoc{src: v}
	d.index()
	sv, sok := d.scanValue(start)
	if !sok || skipSpace(v, sv.end) != len(v) {
		if err == nil && start < len(v) {
			t.Errorf("%q: PostgreSQL accepts what the scanner does not", v)
		}
		return err == nil, false
	}
	w := refsWriter{src: v}
	fp, ok := w.fingerprint(sv)
	if ok && err != nil {
		// Invalid JSON the scanner passes over (the body is refused
		// anyway); only a value PostgreSQL accepts has a fingerprint to
		// agree with.
		return false, true
	}
	if ok && string(fp[:]) != want {
		t.Errorf("fingerprint(%q) = %s, PostgreSQL's md5(v::text) = %s", v, fp[:], want)
	}
	return err == nil, ok
}

// TestFingerprintMatchesSQL: an embedded price's fingerprint computed by
// the service is PostgreSQL's md5(price::text), or none, for odd values
// and for every object of the recorded payloads; and the service vouches
// for the plain ones (the recorded payloads, Orb's real prices).
func TestFingerprintMatchesSQL(t *testing.T) {
	t.Parallel()
	o := &fingerprintOracle{schema: pgtest.NewSchema(t)}
	refused := map[string]bool{}
	for _, c := range jsonbTextCases {
		valid, vouched := o.check(t, []byte(c))
		if valid && !vouched {
			refused[c] = true
		}
	}
	// What must be refused (PostgreSQL rewrites it), and nothing else
	// PostgreSQL accepts.
	for _, c := range []string{`-0`, `-0.0`, `1e2`, `1E+2`, `1.5e1`, `0e0`, `-0e-0`} {
		if !refused[c] {
			t.Errorf("fingerprint vouches for %q", c)
		}
		delete(refused, c)
	}
	if len(refused) > 0 {
		t.Errorf("fingerprint refuses plain values PostgreSQL accepts: %q", keys(refused))
	}
	var objects int
	for _, b := range refsFixtures(t) {
		forEachObject(t, b, func(obj []byte) {
			objects++
			if valid, vouched := o.check(t, obj); !valid || !vouched {
				t.Errorf("recorded object %.80q: valid %v, vouched %v", obj, valid, vouched)
			}
		})
	}
	if objects < 100 {
		t.Errorf("only %d recorded objects compared", objects)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// forEachObject calls fn with the text of every object in the JSON body b,
// at every depth, the body included.
func forEachObject(t testing.TB, b []byte, fn func([]byte)) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	d := jsonDoc{src: b}
	d.index()
	var walk func(start int)
	walk = func(start int) {
		sv, ok := d.scanValue(start)
		if !ok {
			t.Fatalf("scanning %.60q", b[start:])
		}
		switch b[sv.start] {
		case '{':
			fn(b[sv.start:sv.end])
			d.eachMember(sv.start, func(_, val span) bool { walk(val.start); return true })
		case '[':
			d.eachElement(sv.start, func(e span) { walk(e.start) })
		}
	}
	walk(0)
}

// FuzzFingerprint compares fingerprint with PostgreSQL's md5(v::text) on
// mutated values (go test -run '^$' -fuzz FuzzFingerprint ./eventlog/;
// without -fuzz it runs the seeds).
func FuzzFingerprint(f *testing.F) {
	for _, c := range jsonbTextCases {
		f.Add([]byte(c))
	}
	for _, c := range refsCases {
		if strings.HasPrefix(strings.TrimSpace(c), "{") {
			f.Add([]byte(c))
		}
	}
	o := &fingerprintOracle{schema: pgtest.NewSchema(f)}
	f.Fuzz(func(t *testing.T, v []byte) {
		o.check(t, v)
	})
}
