package eventlog

// The pre-change EventRefs (main before 6460f37 and 958accb), kept under
// other names so that the differential tests compare the indexed, pooled
// path with it byte for byte.

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// oldEventRefs returns events.refs for an event whose body is body: the
// skeleton of the subscription the payload carries, as JSON text, exactly
// as the log's event_refs(payload) builds it in SQL (migrations 017, 022
// and 025: the embedded customer, plan and prices with their
// fingerprints), or nil when the payload carries no subscription object.
// The service builds it from the bytes it already holds, so PostgreSQL,
// which still parses each body into payload, does not walk a ~54 KB
// subscription once more.
//
// ok is false when the body is not JSON this extractor can vouch for:
// malformed, or a value copied whole into the skeleton (a customer that
// is not an object, an id that is) holding an object with a repeated key,
// or an embedded customer, plan or price whose jsonb text it cannot render
// with certainty (oldJSONBText: an exponent, a negative zero, \u0000...).
// Keys looked up may repeat (the last one wins, as in jsonb). The append
// then sends no refs and the log's trigger builds them, so refs are the
// same whichever side built them.
//
// The rules are event_refs' own, JSON path's lax mode included: in
// plan.prices, [*] and then the filter each unwrap an array one level;
// an interval's price is unwrapped by the filter only; a list that is a
// single object counts as a list of it; items that are not objects, or
// objects without the key read, name nothing. Every null member is left
// out, at every depth (jsonb_strip_nulls).
func oldEventRefs(body []byte) (refs []byte, ok bool) {
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, false
	}
	if body[start] != '{' {
		// Not an object: no subscription.
		v, ok := oldScanValue(body, start)
		return nil, ok && skipSpace(body, v.end) == len(body)
	}
	root, end, ok := oldMembers(body, start, "subscription")
	if !ok || skipSpace(body, end) != len(body) {
		return nil, false
	}
	sub := root.vals[0]
	if !root.has[0] || body[sub.start] != '{' {
		return nil, true
	}
	w := oldRefsWriter{src: body, ok: true}
	w.buf = append(make([]byte, 0, 512), `{"subscription":{`...)
	f := w.lookup(sub, "customer", "plan", "price_intervals")
	if f.has[0] {
		w.customer(f.vals[0])
	}
	if f.has[1] {
		w.plan(f.vals[1])
	}
	if f.has[2] {
		w.priceIntervals(f.vals[2])
	}
	w.buf = append(w.buf, "}}"...)
	if !w.ok {
		return nil, false
	}
	return w.buf, true
}

// oldRefsWriter builds the skeleton's members into buf; ok turns false on
// input it cannot vouch for.
type oldRefsWriter struct {
	src   []byte
	buf   []byte
	comma bool // a member was written into the innermost open object
	ok    bool
	text  oldJSONBText // renders the objects to fingerprint
	// prices are the fingerprints of the plan's prices the path yields
	// directly, in path order (planFingerprints).
	prices [][32]byte
}

func (w *oldRefsWriter) kind(v span) byte { return w.src[v.start] }

// lookup is members, recording failure in w.ok.
func (w *oldRefsWriter) lookup(obj span, names ...string) found {
	f, _, ok := oldMembers(w.src, obj.start, names...)
	w.ok = w.ok && ok
	return f
}

// field starts member name of the object being written.
func (w *oldRefsWriter) field(name string) {
	w.item()
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

// item separates what follows from the object's or array's last member.
func (w *oldRefsWriter) item() {
	if w.comma {
		w.buf = append(w.buf, ',')
	}
	w.comma = true
}

// open and close write an object or array whose members are then written
// with field or item; open returns the state close hands back.
func (w *oldRefsWriter) open(c byte) (outer bool) {
	outer = w.comma
	w.buf = append(w.buf, c)
	w.comma = false
	return outer
}

func (w *oldRefsWriter) close(c byte, outer bool) {
	w.buf = append(w.buf, c)
	w.comma = outer
}

// member writes name: v with v's null members left out, unless v is
// absent or null.
func (w *oldRefsWriter) member(name string, v span, has bool) {
	if !has || w.kind(v) == 'n' {
		return
	}
	w.field(name)
	var ok bool
	w.buf, ok = oldAppendStripped(w.buf, w.src, v)
	w.ok = w.ok && ok
}

// customer: {id, email: true if the key is there} of an object; any other
// value as it is.
func (w *oldRefsWriter) customer(c span) {
	if w.kind(c) != '{' {
		w.member("customer", c, true)
		return
	}
	f := w.lookup(c, "id", "email")
	w.field("customer")
	outer := w.open('{')
	w.member("id", f.vals[0], f.has[0])
	if f.has[1] {
		w.field("email")
		w.buf = append(w.buf, "true"...)
	}
	fp, ok := w.fingerprint(c)
	w.fp(fp, ok)
	w.close('}', outer)
}

// plan: {id, version, prices: [{id, fp}], fp} of an object; any other
// value as it is. The prices are those of the path
// $.prices[*] ? (@.type() == "object").id. The plan is rendered once
// (planFingerprints): its prices' fingerprints are taken from its text.
func (w *oldRefsWriter) plan(p span) {
	if w.kind(p) != '{' {
		w.member("plan", p, true)
		return
	}
	f := w.lookup(p, "id", "version", "prices")
	fp, ok := w.planFingerprints(p)
	w.field("plan")
	outer := w.open('{')
	w.member("id", f.vals[0], f.has[0])
	w.member("version", f.vals[1], f.has[1])
	if f.has[2] {
		w.field("prices")
		list := w.open('[')
		n := 0
		w.eachObject(f.vals[2], func(price span, direct bool) {
			if !direct {
				w.idItem(price, "", nil)
				return
			}
			// The n-th direct price is the n-th the rendered plan yields.
			if n >= len(w.prices) {
				w.ok = false
				return
			}
			w.idItem(price, "", &w.prices[n])
			n++
		})
		w.close(']', list)
		w.ok = w.ok && n == len(w.prices)
	}
	w.fp(fp, ok)
	w.close('}', outer)
}

// fp writes the member "fp" of an object's fingerprint, or records that
// it could not be rendered.
func (w *oldRefsWriter) fp(fp [32]byte, ok bool) {
	if !ok {
		w.ok = false
		return
	}
	w.field("fp")
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, fp[:]...)
	w.buf = append(w.buf, '"')
}

// priceIntervals: [{price: {id}}], for the path
// $.price_intervals[*].price ? (@.type() == "object").id. Note that here
// only the filter unwraps the price (one level), where plan.prices is
// unwrapped by [*] and then by the filter.
func (w *oldRefsWriter) priceIntervals(intervals span) {
	w.field("price_intervals")
	list := w.open('[')
	w.eachItem(intervals, func(interval span) {
		w.intervalPrice(interval, func(price span) {
			w.objects(price, func(price span, direct bool) {
				if !direct {
					w.idItem(price, "price", nil)
					return
				}
				fp, ok := w.fingerprint(price)
				w.ok = w.ok && ok
				w.idItem(price, "price", &fp)
			})
		})
	})
	w.close(']', list)
}

// intervalPrice calls fn with the price of interval, as lax .price
// yields it: of an object, or of each object in an array.
func (w *oldRefsWriter) intervalPrice(interval span, fn func(span)) {
	switch w.kind(interval) {
	case '{':
		if f := w.lookup(interval, "price"); f.has[0] {
			fn(f.vals[0])
		}
	case '[':
		w.elements(interval, func(e span) {
			if w.kind(e) == '{' {
				if f := w.lookup(e, "price"); f.has[0] {
					fn(f.vals[0])
				}
			}
		})
	}
}

// idItem writes the list item of an object that has an id: {"id": id},
// or {wrap: {"id": id}}, with "fp", the object's fingerprint, when the
// path yields the object itself (fp not nil), not inside an array it
// yields: only those are items the fold reads from the payload (migration
// 022).
func (w *oldRefsWriter) idItem(obj span, wrap string, fp *[32]byte) {
	f := w.lookup(obj, "id")
	if !f.has[0] {
		return
	}
	w.item()
	item := w.open('{')
	if wrap != "" {
		w.field(wrap)
		inner := w.open('{')
		w.idFields(f.vals[0], fp)
		w.close('}', inner)
	} else {
		w.idFields(f.vals[0], fp)
	}
	w.close('}', item)
}

// idFields writes an item's id and, if fp is not nil, its fingerprint.
func (w *oldRefsWriter) idFields(id span, fp *[32]byte) {
	w.member("id", id, true)
	if fp != nil {
		w.fp(*fp, true)
	}
}

// elements is oldEachElement, recording failure in w.ok.
func (w *oldRefsWriter) elements(arr span, fn func(span)) {
	w.ok = oldEachElement(w.src, arr.start, fn) && w.ok
}

// eachItem calls fn with each item of v as lax [*] yields them: the
// elements of an array, or v itself.
func (w *oldRefsWriter) eachItem(v span, fn func(span)) {
	if w.kind(v) != '[' {
		fn(v)
		return
	}
	w.elements(v, fn)
}

// eachObject calls fn with each object the lax path v[*] ? (@.type() ==
// "object") selects: the items [*] yields, each filtered.
func (w *oldRefsWriter) eachObject(v span, fn func(obj span, direct bool)) {
	w.eachItem(v, func(item span) { w.objects(item, fn) })
}

// objects calls fn with each object the lax filter v ? (@.type() ==
// "object") selects: v (direct), or the elements of v if it is an array
// (one level only: an array in it is not an object).
func (w *oldRefsWriter) objects(v span, fn func(obj span, direct bool)) {
	switch w.kind(v) {
	case '{':
		fn(v, true)
	case '[':
		w.elements(v, func(e span) {
			if w.kind(e) == '{' {
				fn(e, false)
			}
		})
	}
}

// oldAppendStripped appends v with every null object member left out, at
// every depth (nulls in arrays stay), as jsonb_strip_nulls does.
func oldAppendStripped(dst, src []byte, v span) ([]byte, bool) {
	switch src[v.start] {
	case '{':
		return oldAppendStrippedObject(dst, src, v)
	case '[':
		dst = append(dst, '[')
		first, ok := true, true
		ok = oldEachElement(src, v.start, func(e span) {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			var eok bool
			dst, eok = oldAppendStripped(dst, src, e)
			ok = ok && eok
		}) && ok
		return append(dst, ']'), ok
	default:
		return append(dst, src[v.start:v.end]...), true
	}
}

// oldAppendStrippedObject is oldAppendStripped for an object. jsonb keeps the
// last of repeated keys, so a repeated key is refused (rare, and the
// trigger handles it) rather than resolved here.
func oldAppendStrippedObject(dst, src []byte, v span) ([]byte, bool) {
	var keys [][]byte
	dst = append(dst, '{')
	first := true
	_, ok := oldEachMember(src, v.start, func(key, val span) bool {
		name, kok := keyName(src, key)
		if !kok {
			return false
		}
		for _, k := range keys {
			if bytes.Equal(k, name) {
				return false
			}
		}
		keys = append(keys, name)
		if src[val.start] == 'n' {
			return true
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, src[key.start:key.end]...)
		dst = append(dst, ':')
		var vok bool
		dst, vok = oldAppendStripped(dst, src, val)
		return vok
	})
	return append(dst, '}'), ok
}

// members looks up the members of obj, an object, called names (at most
// maxNames), in one pass. jsonb keeps the last of repeated keys, so the
// last one found wins. end is the index after the object.
func oldMembers(src []byte, start int, names ...string) (f found, end int, ok bool) {
	end, ok = oldEachMember(src, start, func(key, val span) bool {
		k, kok := keyName(src, key)
		if !kok {
			return false
		}
		for n, name := range names {
			if string(k) == name {
				f.vals[n], f.has[n] = val, true
			}
		}
		return true
	})
	return f, end, ok
}

// oldEachMember calls fn with each member of the object starting at
// src[start] ('{'), in order, and returns the index after the object; ok
// is false if fn returns false or the object is malformed.
func oldEachMember(src []byte, start int, fn func(key, val span) bool) (end int, ok bool) {
	i := skipSpace(src, start+1)
	if i < len(src) && src[i] == '}' {
		return i + 1, true
	}
	for i < len(src) {
		key, ok := oldScanValue(src, i)
		if !ok || src[key.start] != '"' {
			return 0, false
		}
		i = skipSpace(src, key.end)
		if i >= len(src) || src[i] != ':' {
			return 0, false
		}
		val, ok := oldScanValue(src, i+1)
		if !ok || !fn(key, val) {
			return 0, false
		}
		i = skipSpace(src, val.end)
		if i < len(src) && src[i] == ',' {
			i++
			continue
		}
		return i + 1, i < len(src) && src[i] == '}'
	}
	return 0, false
}

// oldEachElement calls fn with each element of the array starting at
// src[start] ('['), in order; ok is false if the array is malformed.
func oldEachElement(src []byte, start int, fn func(span)) (ok bool) {
	i := skipSpace(src, start+1)
	if i < len(src) && src[i] == ']' {
		return true
	}
	for i < len(src) {
		val, ok := oldScanValue(src, i)
		if !ok {
			return false
		}
		fn(val)
		i = skipSpace(src, val.end)
		if i < len(src) && src[i] == ',' {
			i++
			continue
		}
		return i < len(src) && src[i] == ']'
	}
	return false
}

// oldScanValue finds the JSON value starting at src[i:] after any space,
// with the envelope's scanner (skipValue): it checks only the structure it
// needs to find the value's end; PostgreSQL validates the body itself when
// it parses it into payload, and refuses the event if it is not JSON.
func oldScanValue(src []byte, i int) (span, bool) {
	start := skipSpace(src, i)
	end, err := skipValue(src, start)
	return span{start, end}, err == nil
}

// fingerprint is the MD5, in hex, of the text PostgreSQL gives the JSON
// value v once parsed into jsonb: md5(v::text), what event_refs stores as
// an embedded price's "fp" (migration 022). ok is false when the text
// cannot be rendered here with certainty (see oldJSONBText); never is a
// different fingerprint returned, since the fold skips an embedded price
// whose fingerprint repeats the one before it.
func (w *oldRefsWriter) fingerprint(v span) (fp [32]byte, ok bool) {
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
// or nested; see oldJSONBText.watch).
func (w *oldRefsWriter) planFingerprints(p span) (fp [32]byte, ok bool) {
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

// oldJSONBText renders JSON as jsonb's text (jsonb_out) in one pass over the
// bytes: object keys ordered as jsonb stores them (shorter first, then
// bytewise), the last of repeated keys kept, members separated by ", " and
// ": ", strings re-escaped as escape_json does, numbers as numeric_out
// prints them. A value is refused (ok false) where this cannot vouch for
// PostgreSQL's text: a number with an exponent or a negative zero
// (numeric_in rewrites them), a string with \u0000, a lone surrogate or
// invalid UTF-8 (PostgreSQL refuses them), anything malformed, nesting
// deeper than maxJSONBDepth. Its buffers are reused from value to value.
type oldJSONBText struct {
	buf     []byte
	members []jsonbMember // a stack: each object's oldMembers above its base
	keys    []byte        // the oldMembers' decoded keys
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

// key is m's decoded key.
func (t *oldJSONBText) key(m jsonbMember) []byte { return t.keys[m.keyStart:m.keyEnd] }

// value appends the text of the value at src[i:] (after any space) and
// returns the index after it.
func (t *oldJSONBText) value(src []byte, i, depth int) (int, bool) {
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
		return t.str(src, i)
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
func (t *oldJSONBText) array(src []byte, i, depth int) (int, bool) {
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
func (t *oldJSONBText) object(src []byte, i, depth int) (int, bool) {
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
		end, ok := t.str(src, i)
		if !ok {
			return 0, false
		}
		key, ok := unquote(src[i:end])
		if !ok {
			return 0, false
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
func (t *oldJSONBText) order(start int, ms []jsonbMember, depth int) {
	slices.SortStableFunc(ms, func(a, b jsonbMember) int {
		if la, lb := a.keyEnd-a.keyStart, b.keyEnd-b.keyStart; la != lb {
			return la - lb
		}
		return bytes.Compare(t.key(a), t.key(b))
	})
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

// str appends the string token at src[i] ('"') as escape_json writes its
// value, and returns the index after the token. Without escapes, the
// token is its own text.
func (t *oldJSONBText) str(src []byte, i int) (int, bool) {
	j := i + 1
	plain := true
	for ; j < len(src); j++ {
		c := src[j]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			j++ // Escaped: an escaped quote does not end the string.
			continue
		}
		if c < 0x20 {
			return 0, false
		}
	}
	if j >= len(src) {
		return 0, false
	}
	tok := src[i : j+1]
	if plain {
		if !utf8.Valid(tok) {
			return 0, false
		}
		t.buf = append(t.buf, tok...)
		return j + 1, true
	}
	s, ok := unquote(tok)
	if !ok {
		return 0, false
	}
	t.buf = appendEscaped(t.buf, s)
	return j + 1, true
}
