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

// object splits a JSON object into its top-level fields; a null or
// anything else is nil. The values are slices of data, not copies. It
// trusts its input to be valid JSON (PostgreSQL's output): a timeline reads
// megabytes of subscription objects, which encoding/json validates and
// copies several times slower.
func object(data []byte) map[string]Value {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil
	}
	out := map[string]Value{}
	for i = skipSpace(data, i+1); i < len(data) && data[i] != '}'; i = skipSpace(data, i) {
		if data[i] == ',' {
			i = skipSpace(data, i+1)
		}
		keyEnd := skipString(data, i)
		key := string(data[i+1 : keyEnd-1])
		if bytes.IndexByte(data[i:keyEnd], '\\') >= 0 && json.Unmarshal(data[i:keyEnd], &key) != nil {
			return nil
		}
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return nil
		}
		start := skipSpace(data, i+1)
		i = skipValue(data, start)
		out[key] = Value(data[start:i])
	}
	return out
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i].
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(data)
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for ; i < len(data); i++ {
			switch data[i] {
			case '"':
				i = skipString(data, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(data)
	}
	for i < len(data) && !bytes.ContainsRune([]byte(", \n\t\r}]"), rune(data[i])) {
		i++
	}
	return i
}
