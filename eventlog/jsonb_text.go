package eventlog

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// fingerprint is the MD5, in hex, of the text PostgreSQL gives the JSON
// value v once parsed into jsonb: md5(v::text), what event_refs stores as
// an embedded price's "fp" (migration 022). ok is false when the text
// cannot be rendered here with certainty (see appendJSONBText); never is
// a different fingerprint returned, since the fold skips an embedded
// price whose fingerprint repeats the one before it.
func fingerprint(src []byte, v span) (fp [32]byte, ok bool) {
	text, ok := appendJSONBText(nil, src, v, 0)
	if !ok {
		return fp, false
	}
	sum := md5.Sum(text)
	hex.Encode(fp[:], sum[:])
	return fp, true
}

// maxJSONBDepth bounds the nesting rendered: deeper values are left to
// the trigger (PostgreSQL has its own limit).
const maxJSONBDepth = 64

// appendJSONBText appends jsonb's text of the JSON value v (jsonb_out):
// object keys ordered as jsonb stores them (shorter first, then bytewise),
// the last of repeated keys kept, members separated by ", " and ": ",
// strings re-escaped as escape_json does, numbers as numeric_out prints
// them. ok is false for what it cannot vouch for: a number with an
// exponent or a negative zero (numeric_in rewrites them), a string with
// \u0000, a lone surrogate or invalid UTF-8 (PostgreSQL refuses them), a
// malformed token, nesting deeper than maxJSONBDepth.
func appendJSONBText(dst, src []byte, v span, depth int) ([]byte, bool) {
	if depth > maxJSONBDepth {
		return dst, false
	}
	switch src[v.start] {
	case '{':
		return appendJSONBObject(dst, src, v, depth)
	case '[':
		dst = append(dst, '[')
		first, ok := true, true
		ok = eachElement(src, v.start, func(e span) {
			if !ok {
				return
			}
			if !first {
				dst = append(dst, ", "...)
			}
			first = false
			dst, ok = appendJSONBText(dst, src, e, depth+1)
		}) && ok
		return append(dst, ']'), ok
	case '"':
		s, ok := unquote(src[v.start:v.end])
		if !ok {
			return dst, false
		}
		return appendEscaped(dst, s), true
	case 't', 'f', 'n':
		lit := src[v.start:v.end]
		if string(lit) != "true" && string(lit) != "false" && string(lit) != "null" {
			return dst, false
		}
		return append(dst, lit...), true
	default:
		num := src[v.start:v.end]
		if !plainNumber(num) {
			return dst, false
		}
		return append(dst, num...), true
	}
}

// jsonbMember is an object member, its key decoded.
type jsonbMember struct {
	key []byte
	val span
}

// appendJSONBObject is appendJSONBText for an object.
func appendJSONBObject(dst, src []byte, v span, depth int) ([]byte, bool) {
	var ms []jsonbMember
	_, ok := eachMember(src, v.start, func(key, val span) bool {
		k, ok := unquote(src[key.start:key.end])
		ms = append(ms, jsonbMember{k, val})
		return ok
	})
	if !ok {
		return dst, false
	}
	// Stable: of repeated keys the last stays last, and is the one kept.
	slices.SortStableFunc(ms, func(a, b jsonbMember) int {
		if len(a.key) != len(b.key) {
			return len(a.key) - len(b.key)
		}
		return bytes.Compare(a.key, b.key)
	})
	dst = append(dst, '{')
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && bytes.Equal(m.key, ms[i+1].key) {
			// Left out of the text, but PostgreSQL parses it all the
			// same: a malformed value refuses the object.
			if _, ok := appendJSONBText(nil, src, m.val, depth+1); !ok {
				return dst, false
			}
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = appendEscaped(dst, m.key)
		dst = append(dst, ": "...)
		if dst, ok = appendJSONBText(dst, src, m.val, depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// maxNumberDigits bounds the digits of a number rendered: numeric_in
// refuses more than 131072 before the point or 16383 after it, and the
// whole body with them; far below those, the trigger decides.
const maxNumberDigits = 1000

// plainNumber reports a JSON number numeric_out prints as written: no
// exponent (1e2 prints 100), not a negative zero (-0.0 prints 0.0), no
// more digits than maxNumberDigits (numeric_in refuses too many).
func plainNumber(num []byte) bool {
	i := 0
	if i < len(num) && num[i] == '-' {
		i++
	}
	intStart := i
	for i < len(num) && num[i] >= '0' && num[i] <= '9' {
		i++
	}
	intDigits := num[intStart:i]
	if len(intDigits) == 0 || (len(intDigits) > 1 && intDigits[0] == '0') {
		return false
	}
	if i < len(num) && num[i] == '.' {
		i++
		fracStart := i
		for i < len(num) && num[i] >= '0' && num[i] <= '9' {
			i++
		}
		if i == fracStart {
			return false
		}
	}
	if i != len(num) {
		return false // an exponent, or not a number
	}
	if i-intStart > maxNumberDigits {
		return false
	}
	if num[0] == '-' && len(bytes.Trim(num[1:], "0.")) == 0 {
		return false
	}
	return true
}

// unquote decodes a JSON string token (quotes included) as PostgreSQL's
// lexer does in a UTF-8 database, or returns ok false where that lexer
// would refuse it or this one is unsure.
func unquote(tok []byte) (s []byte, ok bool) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return nil, false
	}
	raw := tok[1 : len(tok)-1]
	if !utf8.Valid(raw) {
		return nil, false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		for _, c := range raw {
			if c < 0x20 {
				return nil, false
			}
		}
		return raw, true
	}
	s = make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < 0x20 {
			return nil, false
		}
		if c != '\\' {
			s = append(s, c)
			continue
		}
		if i+1 >= len(raw) {
			return nil, false
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			s = append(s, raw[i])
		case 'b':
			s = append(s, '\b')
		case 'f':
			s = append(s, '\f')
		case 'n':
			s = append(s, '\n')
		case 'r':
			s = append(s, '\r')
		case 't':
			s = append(s, '\t')
		case 'u':
			r, n, ok := unicodeEscape(raw[i-1:])
			if !ok {
				return nil, false
			}
			s = utf8.AppendRune(s, r)
			i += n - 2
		default:
			return nil, false
		}
	}
	return s, true
}

// unicodeEscape decodes \uXXXX at the start of b, with the low half of a
// surrogate pair after it; n is the bytes read. \u0000 and lone
// surrogates are refused, as PostgreSQL refuses them in jsonb.
func unicodeEscape(b []byte) (r rune, n int, ok bool) {
	hi, ok := hex4(b)
	if !ok || hi == 0 {
		return 0, 0, false
	}
	if !utf16.IsSurrogate(hi) {
		return hi, 6, true
	}
	lo, ok := hex4(b[6:])
	if !ok || hi >= 0xdc00 {
		return 0, 0, false
	}
	r = utf16.DecodeRune(hi, lo)
	if r == utf8.RuneError {
		return 0, 0, false
	}
	return r, 12, true
}

// hex4 reads \uXXXX at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[2:6]), 16, 32)
	return rune(v), err == nil
}

// appendEscaped appends s quoted as PostgreSQL's escape_json writes it:
// the short escapes, \u00xx (lower-case hex) for other control
// characters, everything else as is.
func appendEscaped(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if c < 0x20 {
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				continue
			}
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
