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
// cannot be rendered here with certainty (see jsonbText); never is a
// different fingerprint returned, since the fold skips an embedded price
// whose fingerprint repeats the one before it.
func (w *refsWriter) fingerprint(v span) (fp [32]byte, ok bool) {
	t := &w.text
	t.buf = t.buf[:0]
	end, ok := t.value(w.src, v.start, 0)
	if !ok || end != v.end {
		return fp, false
	}
	return md5Hex(t.buf), true
}

// planFingerprints is fingerprint for a plan, p, rendered once for itself
// and its prices: w.prices gets the fingerprints of the prices its path
// $.prices[*] ? (@.type() == "object") yields directly (an object prices,
// or each object in a prices array), in path order, each the MD5 of its
// own text within the plan's (jsonb's text of a value is the same alone
// or nested; see jsonbText.watch).
func (w *refsWriter) planFingerprints(p span) (fp [32]byte, ok bool) {
	w.prices = w.prices[:0]
	t := &w.text
	t.watch, t.watched = "prices", t.watched[:0]
	defer func() { t.watch = "" }()
	if fp, ok = w.fingerprint(p); !ok {
		return fp, false
	}
	for _, v := range t.watched {
		w.prices = append(w.prices, md5Hex(t.buf[v.start:v.end]))
	}
	return fp, true
}

// md5Hex is the MD5 of b in hex, as PostgreSQL's md5 gives it.
func md5Hex(b []byte) (h [32]byte) {
	sum := md5.Sum(b)
	hex.Encode(h[:], sum[:])
	return h
}

// maxJSONBDepth bounds the nesting rendered: deeper values are left to
// the trigger (PostgreSQL has its own limit).
const maxJSONBDepth = 64

// jsonbText renders JSON as jsonb's text (jsonb_out) in one pass over the
// bytes: object keys ordered as jsonb stores them (shorter first, then
// bytewise), the last of repeated keys kept, members separated by ", " and
// ": ", strings re-escaped as escape_json does, numbers as numeric_out
// prints them. A value is refused (ok false) where this cannot vouch for
// PostgreSQL's text: a number with an exponent or a negative zero
// (numeric_in rewrites them), a string with \u0000, a lone surrogate or
// invalid UTF-8 (PostgreSQL refuses them), anything malformed, nesting
// deeper than maxJSONBDepth. Its buffers are reused from value to value.
type jsonbText struct {
	buf     []byte
	members []jsonbMember // a stack: each object's members above its base
	keys    []byte        // the members' decoded keys
	tmp     []byte
	// watch, when set, is a key of the value rendered (an object): the
	// objects its member's value yields directly to a lax [*] (the value
	// itself, or each object in it if an array) are recorded in watched,
	// as their spans in buf, for the last member of that key (the one
	// jsonb keeps), so that a plan rendered once gives its prices' texts.
	watch      string
	watched    []span
	watchedAt  int  // the start in buf of that member, until ordered
	collecting bool // the watched member's value is being rendered
}

// jsonbMember is a rendered object member: where its decoded key sits in
// keys, and its text ("key": value) in buf. Offsets, not slices: sorting
// members that hold pointers paid a write barrier per move.
type jsonbMember struct {
	keyStart, keyEnd int
	start, end       int
}

// key is m's decoded key.
func (t *jsonbText) key(m jsonbMember) []byte { return t.keys[m.keyStart:m.keyEnd] }

// value appends the text of the value at src[i:] (after any space) and
// returns the index after it.
func (t *jsonbText) value(src []byte, i, depth int) (int, bool) {
	i = skipSpace(src, i)
	if i >= len(src) || depth > maxJSONBDepth {
		return 0, false
	}
	switch c := src[i]; {
	case c == '{':
		return t.object(src, i, depth)
	case c == '[':
		return t.array(src, i, depth)
	case c == '"':
		end, _, ok := t.str(src, i)
		return end, ok
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(src[i:], []byte(lit)) {
				t.buf = append(t.buf, lit...)
				return i + len(lit), true
			}
		}
		return 0, false
	default:
		end := numberEnd(src, i)
		if !plainNumber(src[i:end]) {
			return 0, false
		}
		t.buf = append(t.buf, src[i:end]...)
		return end, true
	}
}

// array is value for an array.
func (t *jsonbText) array(src []byte, i, depth int) (int, bool) {
	t.buf = append(t.buf, '[')
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == ']' {
		t.buf = append(t.buf, ']')
		return i + 1, true
	}
	collect := t.collecting && depth == 1
	for n := 0; ; n++ {
		if n > 0 {
			t.buf = append(t.buf, ", "...)
		}
		start := len(t.buf)
		var ok bool
		if i, ok = t.value(src, i, depth+1); !ok {
			return 0, false
		}
		if collect && t.buf[start] == '{' {
			t.watched = append(t.watched, span{start, len(t.buf)})
		}
		i = skipSpace(src, i)
		if i >= len(src) {
			return 0, false
		}
		switch src[i] {
		case ',':
			i++
		case ']':
			t.buf = append(t.buf, ']')
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// object is value for an object: each member is rendered where it comes,
// then the members are put in jsonb's order.
func (t *jsonbText) object(src []byte, i, depth int) (int, bool) {
	start, base, keysBase := len(t.buf), len(t.members), len(t.keys)
	defer func() { t.members, t.keys = t.members[:base], t.keys[:keysBase] }()
	t.buf = append(t.buf, '{')
	i = skipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		t.buf = append(t.buf, '}')
		return i + 1, true
	}
	for {
		i = skipSpace(src, i)
		if i >= len(src) || src[i] != '"' {
			return 0, false
		}
		m := jsonbMember{start: len(t.buf)}
		end, plain, ok := t.str(src, i)
		if !ok {
			return 0, false
		}
		key := src[i+1 : end-1] // str has checked a plain key: no escape, control character or invalid UTF-8
		if !plain {
			if key, ok = unquote(src[i:end]); !ok {
				return 0, false
			}
		}
		m.keyStart = len(t.keys)
		t.keys = append(t.keys, key...)
		m.keyEnd = len(t.keys)
		i = skipSpace(src, end)
		if i >= len(src) || src[i] != ':' {
			return 0, false
		}
		t.buf = append(t.buf, ": "...)
		watched := depth == 0 && t.watch != "" && string(key) == t.watch
		if watched {
			t.watched, t.watchedAt, t.collecting = t.watched[:0], m.start, true
		}
		valStart := len(t.buf)
		i, ok = t.value(src, i+1, depth+1)
		t.collecting = false
		if !ok {
			return 0, false
		}
		if watched && t.buf[valStart] == '{' {
			t.watched = append(t.watched, span{valStart, len(t.buf)})
		}
		m.end = len(t.buf)
		t.members = append(t.members, m)
		i = skipSpace(src, i)
		if i >= len(src) {
			return 0, false
		}
		if src[i] == ',' {
			i++
			continue
		}
		if src[i] != '}' {
			return 0, false
		}
		t.order(start, t.members[base:], depth)
		return i + 1, true
	}
}

// order rewrites the object rendered from buf[start] ('{'), its members
// ms each rendered without separators, in jsonb's order with ", " between
// them. Stable: of repeated keys the last stays last, and is kept. The
// watched spans of the object at depth 0 move with their member.
func (t *jsonbText) order(start int, ms []jsonbMember, depth int) {
	t.sort(ms)
	t.tmp = append(t.tmp[:0], '{')
	first := true
	for k, m := range ms {
		if k+1 < len(ms) && bytes.Equal(t.key(m), t.key(ms[k+1])) {
			continue
		}
		if !first {
			t.tmp = append(t.tmp, ", "...)
		}
		first = false
		if depth == 0 && len(t.watched) > 0 && m.start == t.watchedAt {
			delta := start + len(t.tmp) - m.start
			for n := range t.watched {
				t.watched[n].start += delta
				t.watched[n].end += delta
			}
		}
		t.tmp = append(t.tmp, t.buf[m.start:m.end]...)
	}
	t.tmp = append(t.tmp, '}')
	t.buf = append(t.buf[:start], t.tmp...)
}

// sort orders ms as jsonb stores keys (shorter first, then bytewise),
// stably. Objects have a few dozen members at most, as a rule: an
// insertion sort with the comparison inline beats the generic sort's
// call per comparison there.
func (t *jsonbText) sort(ms []jsonbMember) {
	if len(ms) > maxInsertionSort {
		slices.SortStableFunc(ms, func(a, b jsonbMember) int {
			if la, lb := a.keyEnd-a.keyStart, b.keyEnd-b.keyStart; la != lb {
				return la - lb
			}
			return bytes.Compare(t.key(a), t.key(b))
		})
		return
	}
	for i := 1; i < len(ms); i++ {
		m := ms[i]
		j := i
		for ; j > 0 && t.before(m, ms[j-1]); j-- {
			ms[j] = ms[j-1]
		}
		ms[j] = m
	}
}

// maxInsertionSort is the most members sort orders by insertion.
const maxInsertionSort = 48

// before reports whether a's key comes strictly before b's in jsonb.
func (t *jsonbText) before(a, b jsonbMember) bool {
	la, lb := a.keyEnd-a.keyStart, b.keyEnd-b.keyStart
	if la != lb {
		return la < lb
	}
	return string(t.key(a)) < string(t.key(b))
}

// str appends the string token at src[i] ('"') as escape_json writes its
// value, and returns the index after the token and whether it holds no
// escape. Without escapes, the token is its own text.
func (t *jsonbText) str(src []byte, i int) (end int, plain, ok bool) {
	j := i + 1
	plain, ascii := true, true
	for ; j < len(src); j++ {
		c := src[j]
		if !strSpecial[c] {
			continue
		}
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			j++ // Escaped: an escaped quote does not end the string.
			continue
		}
		if c < 0x20 {
			return 0, false, false
		}
		ascii = false
	}
	if j >= len(src) {
		return 0, false, false
	}
	tok := src[i : j+1]
	if plain {
		if !ascii && !utf8.Valid(tok) {
			return 0, false, false
		}
		t.buf = append(t.buf, tok...)
		return j + 1, true, true
	}
	s, ok := unquote(tok)
	if !ok {
		return 0, false, false
	}
	t.buf = appendEscaped(t.buf, s)
	return j + 1, false, true
}

// strSpecial marks the bytes str's loop stops at: the quote, the
// backslash, control characters (refused), and bytes of multi-byte UTF-8
// (the token is then checked with utf8.Valid; an ASCII one needs no check).
var strSpecial = func() (m [256]bool) {
	for c := range 256 {
		m[c] = c == '"' || c == '\\' || c < 0x20 || c >= 0x80
	}
	return m
}()

// numberEnd is the index after the number-like token at src[i].
func numberEnd(src []byte, i int) int {
	for i < len(src) && bytes.IndexByte([]byte(",}] \t\r\n"), src[i]) < 0 {
		i++
	}
	return i
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
// would refuse it or this one is unsure. Without escapes, it returns the
// bytes between the quotes.
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
