package eventlog

import (
	"bytes"
	"errors"
)

// The envelope needs three small top-level fields and the id of one nested
// object, from bodies up to tens of kilobytes. encoding/json validates and
// walks every byte of them (it was half of the process's CPU at full load),
// so this scanner only finds value boundaries. Full validation happens once,
// in PostgreSQL, when the body is cast to jsonb; a body that fails it is
// refused there as unstorable.

var errScan = errors.New("malformed JSON")

// objectFields calls fn with each key (raw, still quoted) and value span of
// the JSON object in b, stopping early when fn returns false.
func objectFields(b []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errScan
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return trailing(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errScan
		}
		keyEnd, err := skipString(b, i)
		if err != nil {
			return err
		}
		key := b[i:keyEnd]
		i = skipSpace(b, keyEnd)
		if i >= len(b) || b[i] != ':' {
			return errScan
		}
		start := skipSpace(b, i+1)
		end, err := skipValue(b, start)
		if err != nil {
			return err
		}
		if !fn(key, b[start:end]) {
			return nil
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errScan
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return trailing(b, i+1)
		default:
			return errScan
		}
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errScan
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
// A quote ends the string unless an odd number of backslashes precedes it
// (each escapes the next character); the quotes are found with
// bytes.IndexByte, which reads many bytes per step.
func skipString(b []byte, i int) (int, error) {
	start := i
	for i++; ; i++ {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, errScan
		}
		i += j
		k := i - 1
		for k > start && b[k] == '\\' {
			k--
		}
		if (i-1-k)%2 == 0 {
			return i + 1, nil
		}
	}
}

// structural marks the bytes skipValue's container loop stops at: the
// rest (members' punctuation, scalars, the space of indented bodies) is
// passed over by a table lookup per byte.
var structural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			for i < len(b) && !structural[b[i]] {
				i++
			}
			if i == len(b) {
				break
			}
			switch b[i] {
			case '"':
				end, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errScan
	default:
		start := i
		for i < len(b) && bytes.IndexByte([]byte(",}] \t\r\n"), b[i]) < 0 {
			i++
		}
		if i == start {
			return 0, errScan
		}
		return i, nil
	}
}
