package console

import (
	"encoding/json"
	"maps"
	"testing"
)

// TestObjectSplitsLikeEncodingJSON: the fast splitter agrees with
// encoding/json on the top-level fields of PostgreSQL-printed objects.
func TestObjectSplitsLikeEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `null`, `[1]`, `"x"`,
		`{"a": 1, "b": "x,}]", "c": {"d": [1, {"e": "\"}"}]}, "f": null, "g": true, "h": -1.5e3}`,
		`{"k\"ey": "v\\", "u\u00e9": [[]], "n": "<script>"}`,
		` { "a" : [ "]" , "[" ] , "b" : { } } `,
	} {
		var want map[string]json.RawMessage
		if json.Unmarshal([]byte(in), &want) != nil || want == nil {
			if object([]byte(in)) != nil {
				t.Errorf("%s: split a non-object", in)
			}
			continue
		}
		got := map[string]json.RawMessage{}
		for k, v := range object([]byte(in)) {
			got[k] = json.RawMessage(v)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
			t.Errorf("%s:\n got %q\nwant %q", in, got, want)
		}
	}
}
