package eventlog

import (
	"bytes"
	"encoding/json"
	"sync"
)

// EventRefs returns events.refs for an event whose body is body: the
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
// with certainty (jsonbText: an exponent, a negative zero, \u0000...).
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
func EventRefs(body []byte) (refs []byte, ok bool) {
	w := refsWriters.Get().(*refsWriter)
	defer w.release()
	return w.build(body)
}

// refsWriters keep refsWriter's buffers (the index, the rendered text)
// from one body to the next: built anew, they were most of what building
// a subscription's refs allocated.
var refsWriters = sync.Pool{New: func() any { return new(refsWriter) }}

// maxPooledRefsBytes bounds the buffers a pooled refsWriter keeps, so that
// one huge body does not pin its buffers for good.
const maxPooledRefsBytes = 1 << 20

// release returns w to refsWriters, without its body, unless its buffers
// grew past maxPooledRefsBytes.
func (w *refsWriter) release() {
	w.src = nil
	w.doc.src = nil
	if cap(w.buf)+cap(w.text.buf)+cap(w.text.tmp)+4*cap(w.doc.starts) > maxPooledRefsBytes {
		return
	}
	refsWriters.Put(w)
}

// build is EventRefs with w's buffers. The skeleton is built in w.buf and
// returned as a copy of its own.
func (w *refsWriter) build(body []byte) (refs []byte, ok bool) {
	w.doc.src = body
	w.doc.index()
	w.src, w.ok, w.comma = body, true, false
	d := &w.doc
	start := skipSpace(body, 0)
	if start == len(body) {
		return nil, false
	}
	if body[start] != '{' {
		// Not an object: no subscription.
		v, ok := d.scanValue(start)
		return nil, ok && skipSpace(body, v.end) == len(body)
	}
	root, end, ok := d.members(start, "subscription")
	if !ok || skipSpace(body, end) != len(body) {
		return nil, false
	}
	sub := root.vals[0]
	if !root.has[0] || body[sub.start] != '{' {
		return nil, true
	}
	w.buf = append(w.buf[:0], `{"subscription":{`...)
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
	return bytes.Clone(w.buf), true
}

// span is a JSON value's bytes, src[start:end], without surrounding space.
type span struct{ start, end int }

// refsWriter builds the skeleton's members into buf; ok turns false on
// input it cannot vouch for.
type refsWriter struct {
	src   []byte
	doc   jsonDoc // src, indexed
	buf   []byte
	comma bool // a member was written into the innermost open object
	ok    bool
	text  jsonbText // renders the objects to fingerprint
	// prices are the fingerprints of the plan's prices the path yields
	// directly, in path order (planFingerprints).
	prices [][32]byte
}

func (w *refsWriter) kind(v span) byte { return w.src[v.start] }

// lookup is members, recording failure in w.ok.
func (w *refsWriter) lookup(obj span, names ...string) found {
	f, _, ok := w.doc.members(obj.start, names...)
	w.ok = w.ok && ok
	return f
}

// field starts member name of the object being written.
func (w *refsWriter) field(name string) {
	w.item()
	w.buf = append(w.buf, '"')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '"', ':')
}

// item separates what follows from the object's or array's last member.
func (w *refsWriter) item() {
	if w.comma {
		w.buf = append(w.buf, ',')
	}
	w.comma = true
}

// open and close write an object or array whose members are then written
// with field or item; open returns the state close hands back.
func (w *refsWriter) open(c byte) (outer bool) {
	outer = w.comma
	w.buf = append(w.buf, c)
	w.comma = false
	return outer
}

func (w *refsWriter) close(c byte, outer bool) {
	w.buf = append(w.buf, c)
	w.comma = outer
}

// member writes name: v with v's null members left out, unless v is
// absent or null.
func (w *refsWriter) member(name string, v span, has bool) {
	if !has || w.kind(v) == 'n' {
		return
	}
	w.field(name)
	var ok bool
	w.buf, ok = w.doc.appendStripped(w.buf, v, 0)
	w.ok = w.ok && ok
}

// customer: {id, email: true if the key is there} of an object; any other
// value as it is.
func (w *refsWriter) customer(c span) {
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
func (w *refsWriter) plan(p span) {
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
func (w *refsWriter) fp(fp [32]byte, ok bool) {
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
func (w *refsWriter) priceIntervals(intervals span) {
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
func (w *refsWriter) intervalPrice(interval span, fn func(span)) {
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
func (w *refsWriter) idItem(obj span, wrap string, fp *[32]byte) {
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
func (w *refsWriter) idFields(id span, fp *[32]byte) {
	w.member("id", id, true)
	if fp != nil {
		w.fp(*fp, true)
	}
}

// elements is eachElement, recording failure in w.ok.
func (w *refsWriter) elements(arr span, fn func(span)) {
	w.ok = w.doc.eachElement(arr.start, fn) && w.ok
}

// eachItem calls fn with each item of v as lax [*] yields them: the
// elements of an array, or v itself.
func (w *refsWriter) eachItem(v span, fn func(span)) {
	if w.kind(v) != '[' {
		fn(v)
		return
	}
	w.elements(v, fn)
}

// eachObject calls fn with each object the lax path v[*] ? (@.type() ==
// "object") selects: the items [*] yields, each filtered.
func (w *refsWriter) eachObject(v span, fn func(obj span, direct bool)) {
	w.eachItem(v, func(item span) { w.objects(item, fn) })
}

// objects calls fn with each object the lax filter v ? (@.type() ==
// "object") selects: v (direct), or the elements of v if it is an array
// (one level only: an array in it is not an object).
func (w *refsWriter) objects(v span, fn func(obj span, direct bool)) {
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

// appendStripped appends v with every null object member left out, at
// every depth (nulls in arrays stay), as jsonb_strip_nulls does. It
// recurses, so, like jsonbText, it refuses v nested deeper than
// maxJSONBDepth: the trigger builds those refs (an 8 MB body of nested
// arrays otherwise grew the stack toward Go's fatal limit for minutes).
func (d *jsonDoc) appendStripped(dst []byte, v span, depth int) ([]byte, bool) {
	src := d.src
	if depth > maxJSONBDepth {
		return dst, false
	}
	switch src[v.start] {
	case '{':
		return d.appendStrippedObject(dst, v, depth)
	case '[':
		dst = append(dst, '[')
		first, ok := true, true
		ok = d.eachElement(v.start, func(e span) {
			if !ok {
				return
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			var eok bool
			dst, eok = d.appendStripped(dst, e, depth+1)
			ok = ok && eok
		}) && ok
		return append(dst, ']'), ok
	default:
		return append(dst, src[v.start:v.end]...), true
	}
}

// appendStrippedObject is appendStripped for an object. jsonb keeps the
// last of repeated keys, so a repeated key is refused (rare, and the
// trigger handles it) rather than resolved here.
//
// Past smallObjectKeys members the keys seen go into a set: a signed body
// of a million distinct keys would otherwise cost a comparison with every
// earlier key per member, hours of CPU for one request.
func (d *jsonDoc) appendStrippedObject(dst []byte, v span, depth int) ([]byte, bool) {
	src := d.src
	var keys [][]byte
	var seen map[string]struct{}
	dst = append(dst, '{')
	first := true
	_, ok := d.eachMember(v.start, func(key, val span) bool {
		name, kok := keyName(src, key)
		if !kok {
			return false
		}
		if seen != nil {
			if _, dup := seen[string(name)]; dup {
				return false
			}
			seen[string(name)] = struct{}{}
		} else {
			for _, k := range keys {
				if bytes.Equal(k, name) {
					return false
				}
			}
			keys = append(keys, name)
			if len(keys) > smallObjectKeys {
				seen = make(map[string]struct{}, 2*len(keys))
				for _, k := range keys {
					seen[string(k)] = struct{}{}
				}
			}
		}
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
		dst, vok = d.appendStripped(dst, val, depth+1)
		return vok
	})
	return append(dst, '}'), ok
}

// smallObjectKeys is the most members appendStrippedObject checks for a
// repeated key by comparing with each earlier one.
const smallObjectKeys = 16

// maxNames is the most members members looks up at once.
const maxNames = 3

// found is what members found: the value of each name, if present.
type found struct {
	vals [maxNames]span
	has  [maxNames]bool
}

// members looks up the members of obj, an object, called names (at most
// maxNames), in one pass. jsonb keeps the last of repeated keys, so the
// last one found wins. end is the index after the object.
func (d *jsonDoc) members(start int, names ...string) (f found, end int, ok bool) {
	end, ok = d.eachMember(start, func(key, val span) bool {
		k, kok := keyName(d.src, key)
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

// keyName is key (a string token, quotes included) decoded; without
// escapes it is the bytes between the quotes.
func keyName(src []byte, key span) ([]byte, bool) {
	raw := src[key.start+1 : key.end-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, true
	}
	var s string
	if err := json.Unmarshal(src[key.start:key.end], &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// eachMember calls fn with each member of the object starting at
// src[start] ('{'), in order, and returns the index after the object; ok
// is false if fn returns false or the object is malformed.
func (d *jsonDoc) eachMember(start int, fn func(key, val span) bool) (end int, ok bool) {
	src := d.src
	i := skipSpace(src, start+1)
	if i < len(src) && src[i] == '}' {
		return i + 1, true
	}
	for i < len(src) {
		key, ok := d.scanValue(i)
		if !ok || src[key.start] != '"' {
			return 0, false
		}
		i = skipSpace(src, key.end)
		if i >= len(src) || src[i] != ':' {
			return 0, false
		}
		val, ok := d.scanValue(i + 1)
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

// eachElement calls fn with each element of the array starting at
// src[start] ('['), in order; ok is false if the array is malformed.
func (d *jsonDoc) eachElement(start int, fn func(span)) (ok bool) {
	src := d.src
	i := skipSpace(src, start+1)
	if i < len(src) && src[i] == ']' {
		return true
	}
	for i < len(src) {
		val, ok := d.scanValue(i)
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

// scanValue finds the JSON value starting at src[i:] after any space,
// with the envelope's scanner (skipValue): it checks only the structure it
// needs to find the value's end; PostgreSQL validates the body itself when
// it parses it into payload, and refuses the event if it is not JSON.
func (d *jsonDoc) scanValue(i int) (span, bool) {
	start := skipSpace(d.src, i)
	end, err := d.skip(start)
	return span{start, end}, err == nil
}
