package eventlog

import (
	"fmt"
	"testing"
)

// checkSkip fails t unless the indexed document's skip gives skipValue's
// answer at every offset of b, valid JSON or not; in a body of more than
// 8 KiB, at every bracket (where the index answers; skipValue from every
// offset would be quadratic).
func checkSkip(t *testing.T, b []byte) {
	t.Helper()
	d := jsonDoc{src: b}
	d.index()
	for i := range len(b) + 1 {
		if len(b) > 8<<10 && (i == len(b) || (b[i] != '{' && b[i] != '[')) {
			continue
		}
		want, wantErr := skipValue(b, i)
		got, err := d.skip(i)
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("%.200q at %d: skip = %d, %v; skipValue = %d, %v", b, i, got, err, want, wantErr)
		}
	}
}

// skipCases are malformed on purpose: unclosed and unopened brackets, an
// unterminated string, a quote inside a scalar (which the members'
// scanner reads as part of the scalar and the container's as a string).
var skipCases = []string{
	`{"a": [1, {"b": "]"}]}`, `{"a": [}`, `]]{"a": 1}}`, `{"a": "x`, `[1, "\"", {"b": x"y, "c": [1]}]`,
	`{"a": tr"ue}, "b": {"c": "}"}}`, `[[[`, `"}"]`, ``, `{`, `{"a\\": {"b\\\"": [[]]}}`,
}

// TestJSONDocSkipsAsSkipValue: the index EventRefs reads container ends
// from gives skipValue's answer at every offset, over the recorded
// payloads, refsCases, skipCases and generated refs payloads.
func TestJSONDocSkipsAsSkipValue(t *testing.T) {
	t.Parallel()
	var bodies [][]byte
	bodies = append(bodies, refsFixtures(t)...)
	for _, c := range append(append([]string{}, refsCases...), skipCases...) {
		bodies = append(bodies, []byte(c))
	}
	for i := range 300 {
		g := &jsonGen{src: []byte(fmt.Sprintf("%d seed for the generator %d", i, i*7919))}
		bodies = append(bodies, g.refsPayload())
	}
	for _, b := range bodies {
		checkSkip(t, b)
	}
}

// FuzzJSONDocSkip compares the indexed skip with skipValue on mutated
// bodies (go test -run '^$' -fuzz FuzzJSONDocSkip ./eventlog/).
func FuzzJSONDocSkip(f *testing.F) {
	for _, b := range refsFixtures(f) {
		f.Add(b)
	}
	for _, c := range append(append([]string{}, refsCases...), skipCases...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSkip(t, b)
	})
}
