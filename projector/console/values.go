package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Value is one JSON value as PostgreSQL printed it (jsonb output is
// canonical, so equal values have equal bytes).
type Value json.RawMessage

// shortValue is how much of a value a table cell or timeline shows; the
// whole value is one click away.
const shortValue = 160

// IsNull reports a JSON null or a missing value.
func (v Value) IsNull() bool { return len(v) == 0 || string(v) == "null" }

// Text is the value for display: strings without quotes, the rest as JSON.
func (v Value) Text() string {
	if v.IsNull() {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

// Short is Text cut to shortValue characters.
func (v Value) Short() string {
	t := []rune(v.Text())
	if len(t) <= shortValue {
		return string(t)
	}
	return string(t[:shortValue]) + "…"
}

// IsLong reports whether Short cuts the value.
func (v Value) IsLong() bool { return len([]rune(v.Text())) > shortValue }

// Pretty is the value indented, for the expanded view.
func (v Value) Pretty() string {
	if v.IsNull() || v[0] == '"' {
		return v.Text()
	}
	var b bytes.Buffer
	if json.Indent(&b, v, "", "  ") != nil {
		return string(v)
	}
	return b.String()
}

// orderedObject decodes a JSON object keeping its key order (row_to_json
// gives columns in table order).
func orderedObject(data []byte) ([]Field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decoding an object: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("decoding an object: not a JSON object")
	}
	var fields []Field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decoding an object: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("decoding field %q: %w", key, err)
		}
		fields = append(fields, Field{Name: key, Value: Value(raw)})
	}
	return fields, nil
}

// object decodes a JSON object into a map; a null or non-object is empty.
func object(data []byte) map[string]Value {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	out := make(map[string]Value, len(m))
	for k, v := range m {
		out[k] = Value(v)
	}
	return out
}
