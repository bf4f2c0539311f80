package eventlog

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// FuzzJSONBTextGenerated drives jsonbText (the renderer) with JSON text generated
// from the fuzzer's bytes (FuzzFingerprint mutates bytes, which rarely
// yields a value that is nearly valid in more than one place): nested
// containers, keys that repeat under other spellings ("a", "\u0061") and
// that sort by length then bytes across non-ASCII, numbers numeric_in
// keeps or rewrites, every escape, raw control characters, invalid UTF-8,
// whitespace JSON has and has not. PostgreSQL is the oracle: where the
// renderer vouches for a value PostgreSQL accepts, its text must be
// PostgreSQL's (v::jsonb)::text byte for byte; where PostgreSQL refuses
// the value, the renderer must not vouch for it either.
//
//	/work/qw go test -run '^$' -fuzz FuzzJSONBTextGenerated -fuzztime 3m ./eventlog/
func FuzzJSONBTextGenerated(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte("repeated keys"), []byte("\x00\x05\x05\x00\x05\x01"),
		[]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7"), []byte("numbers 0123456789 numbers"),
	} {
		f.Add(seed)
	}
	o := &fingerprintOracle{schema: pgtest.NewSchema(f)}
	f.Fuzz(func(t *testing.T, seed []byte) {
		g := &jsonGen{src: seed}
		v := g.value(0)
		o.checkText(t, v)
	})
}

// checkText fails t where the renderer vouches for v with another text
// than PostgreSQL's (v::jsonb)::text, or vouches for a v PostgreSQL
// refuses.
func (o *fingerprintOracle) checkText(t *testing.T, v []byte) (valid, vouched bool) {
	t.Helper()
	if len(v) == 0 {
		return false, false // Not JSON, and the driver would send NULL.
	}
	var want string
	err := o.schema.Pool.QueryRow(context.Background(),
		"select (convert_from($1::bytea, 'UTF8')::jsonb)::text", v).Scan(&want)
	if err != nil && !IsDataError(err) {
		t.Fatalf("%.200q: %v", v, err)
	}
	start := skipSpace(v, 0)
	d := jsonDoc{src: v}
	d.index()
	sv, sok := d.scanValue(start)
	if !sok || skipSpace(v, sv.end) != len(v) {
		if err == nil {
			t.Errorf("%.200q: PostgreSQL accepts what the scanner does not", v)
		}
		return err == nil, false
	}
	var r jsonbText
	end, ok := r.value(v, sv.start, 0)
	ok = ok && end == sv.end
	got := r.buf
	switch {
	case !ok:
	case err != nil:
		t.Errorf("the renderer vouches for %.200q, which PostgreSQL refuses (%v)", v, err)
	case string(got) != want:
		t.Errorf("jsonbText.value(%.500q)\n = %.500q\nPostgreSQL's text %.500q", v, got, want)
	default:
		// fingerprint is the MD5 of the same text.
		w := refsWriter{src: v}
		fp, fok := w.fingerprint(sv)
		sum := md5.Sum([]byte(want))
		if !fok || string(fp[:]) != hex.EncodeToString(sum[:]) {
			t.Errorf("fingerprint(%q) = %s, %v; want md5 of %q", v, fp[:], fok, want)
		}
	}
	return err == nil, ok
}

// jsonGen writes JSON-like text chosen by the bytes of src (zeros once
// they run out): mostly valid, with the odd invalid token.
type jsonGen struct {
	src []byte
	i   int
	out []byte
	// refs biases the text toward what EventRefs reads: keys from
	// refsKeyPieces, objects and arrays more often, nested deeper.
	refs bool
}

func (g *jsonGen) next() int {
	if g.i >= len(g.src) {
		return 0
	}
	g.i++
	return int(g.src[g.i-1])
}

// bad chooses an invalid piece, one time in n; in refs mode, whose
// bodies are bigger, one in 2048, and never once src runs out.
func (g *jsonGen) bad(n int) bool {
	if g.refs {
		return g.pick(256) == 1 && g.pick(8) == 1
	}
	return g.pick(n) == 0
}

// pick returns a choice in [0, n).
func (g *jsonGen) pick(n int) int { return g.next() % n }

func (g *jsonGen) value(depth int) []byte {
	g.space()
	k, limit := g.pick(9), 5
	if g.refs {
		// Objects and arrays twice as often, nested deeper.
		k, limit = []int{0, 0, 1, 1, 2, 2, 3, 5, 6}[k], 7
	}
	switch {
	case k <= 1 && depth < limit:
		g.object(depth)
	case k == 2 && depth < limit:
		g.array(depth)
	case k <= 4:
		g.str(false)
	case k <= 5:
		g.number()
	default:
		lits := []string{"true", "false", "null", "true", "false", "null", "nul", "True"}
		if g.refs && !g.bad(4) {
			lits = lits[:6]
		}
		g.out = append(g.out, lits[g.pick(len(lits))]...)
	}
	g.space()
	return g.out
}

func (g *jsonGen) object(depth int) {
	g.out = append(g.out, '{')
	n := g.pick(6)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		g.space()
		g.str(true)
		g.space()
		g.out = append(g.out, ':')
		g.value(depth + 1)
	}
	if g.bad(60) {
		g.out = append(g.out, ',') // invalid trailing comma
	}
	g.out = append(g.out, '}')
}

func (g *jsonGen) array(depth int) {
	g.out = append(g.out, '[')
	n := g.pick(5)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		g.value(depth + 1)
	}
	g.out = append(g.out, ']')
}

// space writes whitespace: mostly JSON's own, rarely what JSON lacks.
func (g *jsonGen) space() {
	for n := g.pick(4); n > 0; n-- {
		if g.bad(30) {
			g.out = append(g.out, []string{"\f", "\v", "\u00a0"}[g.pick(3)]...)
			continue
		}
		g.out = append(g.out, []string{"", " ", "\t", "\n", "\r", "  "}[g.pick(6)]...)
	}
}

// keyPieces repeat under other spellings, and sort by length, then
// bytes, across ASCII and not.
var keyPieces = []string{
	`a`, `\u0061`, `\u0041`, `A`, `b`, `aa`, `ab`, ``, `é`, `\u00e9`, `\u00E9`, `e\u0301`, `z`, `zz`, `_`, `id`, `\u0069d`,
	`\"`, `\\`, `\/`, `/`, `\n`, `\u000a`, `\u001f`, `\u007f`, "\x7f", `😀`, `\ud83d\ude00`, `\uD83D\uDE00`, `ÿ`, `\u00ff`,
	`\u2028`, "\u2028", `ā`, `\u0100`,
}

// refsKeyPieces are the keys EventRefs looks up, some spelled with
// escapes (the same key to jsonb), and keys that sort around them.
var refsKeyPieces = []string{
	`id`, `id`, `\u0069d`, `prices`, `prices`, `prices`, `pri\u0063es`, `version`, `email`, `price`, `fp`,
	`customer`, `plan`, `price_intervals`, `a`, `zzzzzzz`, `pricez`, `ids`,
}

// strPieces are the parts of a string value: every escape, surrogate
// pairs and halves, \u0000, raw control characters (invalid), DEL,
// U+2028, non-ASCII, invalid UTF-8.
var strPieces = []string{
	`x`, `hello`, ` `, `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0001`, `\u001F`, `\u001f`, `\u0020`,
	`\u007f`, "\x7f", `\u0080`, `\u00e9`, `é`, `\u2028`, "\u2028", `\u2029`, `\ud83d\ude00`, `\uD83D\uDE00`, `😀`,
	`\udbff\udfff`, `\uffff`, `\ufffe`, "\uffff", "\xc3\xa9", `%`, `'`, `\u0041`, `\u00C0`,
}

// badStrPieces make a string PostgreSQL refuses.
var badStrPieces = []string{
	`\u0000`, `\ud83d`, `\ude00`, `\ud83d\u0041`, `\ud83dx`, `\u12`, `\x`, `\u`, `\'`, `\U0041`,
	"\x00", "\x01", "\x1f", "\t", "\n", "\xff", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
}

// dupKeys are few, so that an object's keys repeat often, spelled alike
// or not: "a" and "\u0061" are one key, and jsonb keeps the last.
var dupKeys = []string{`a`, `\u0061`, `b`, `aa`, `é`, `\u00e9`, ``, `\u0062`}

// str writes a string token: for a key, mostly from dupKeys and keyPieces.
func (g *jsonGen) str(key bool) {
	g.out = append(g.out, '"')
	if key && g.refs && g.pick(3) != 0 {
		g.out = append(g.out, refsKeyPieces[g.pick(len(refsKeyPieces))]...)
		g.out = append(g.out, '"')
		return
	}
	if key && g.pick(2) == 0 {
		g.out = append(g.out, dupKeys[g.pick(len(dupKeys))]...)
		g.out = append(g.out, '"')
		return
	}
	n := g.pick(4)
	if !key {
		n = g.pick(6)
	}
	for ; n > 0; n-- {
		if key && g.pick(4) != 0 {
			g.out = append(g.out, keyPieces[g.pick(len(keyPieces))]...)
			continue
		}
		if g.bad(25) {
			g.out = append(g.out, badStrPieces[g.pick(len(badStrPieces))]...)
			continue
		}
		g.out = append(g.out, strPieces[g.pick(len(strPieces))]...)
	}
	g.out = append(g.out, '"')
}

// numPieces are numbers numeric_in prints as written, and ones it
// rewrites or refuses.
var numPieces = []string{
	`0`, `-0`, `0.0`, `-0.0`, `-0.5`, `1E5`, `1e-7`, `1.0`, `1.00`, `1.50`, `1e400`, `-1e-400`, `0e0`, `-0e-0`,
	`123456789012345678901234567890123456789012345678901234567890.000000000000000000001`, `9007199254740993`,
	`0.000000000000000000000000000000000000000001`, `-0.000`, `100`, `-100.000`,
	`179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368.5`,
}

// badNumPieces are not JSON numbers.
var badNumPieces = []string{`01`, `-01`, `1.`, `.5`, `+1`, `1e`, `0x1`, `-`, `NaN`, `Infinity`, `1_000`, `00.5`}

// number writes a number token: from numPieces, or built digit by digit.
func (g *jsonGen) number() {
	if g.refs && g.pick(40) != 1 {
		// Mostly numbers the renderer vouches for: one it refuses in a
		// customer or plan makes the trigger build its refs.
		g.out = append(g.out, byte('1'+g.pick(9)))
		g.digits(g.pick(4))
		if g.pick(3) == 0 {
			g.out = append(g.out, '.')
			g.digits(1 + g.pick(4))
		}
		return
	}
	switch g.pick(25) {
	case 0:
		g.out = append(g.out, badNumPieces[g.pick(len(badNumPieces))]...)
		return
	case 1, 2, 3, 4, 5, 6, 7, 8, 9, 10:
		g.out = append(g.out, numPieces[g.pick(len(numPieces))]...)
		return
	}
	if g.pick(3) == 0 {
		g.out = append(g.out, '-')
	}
	// An integer part JSON allows: 0, or no leading zero.
	if g.pick(4) == 0 {
		g.out = append(g.out, '0')
	} else {
		g.out = append(g.out, byte('1'+g.pick(9)))
		g.digits(g.pick(25))
	}
	if g.pick(2) == 0 {
		g.out = append(g.out, '.', byte('0'+g.pick(10)))
		g.digits(g.pick(25))
	}
	if g.pick(5) == 0 {
		g.out = append(g.out, "eE"[g.pick(2)])
		g.out = append(g.out, []string{"", "+", "-"}[g.pick(3)]...)
		g.digits(g.pick(4))
	}
}

// digits writes n digits, zeros often (leading, trailing).
func (g *jsonGen) digits(n int) {
	for ; n > 0; n-- {
		if g.pick(3) == 0 {
			g.out = append(g.out, '0')
		} else {
			g.out = append(g.out, byte('0'+g.pick(10)))
		}
	}
}

// TestJSONBTextGeneratedSeeds runs the generator over fixed seeds, so the
// oracle comparison runs in every test run, not only under -fuzz.
func TestJSONBTextGeneratedSeeds(t *testing.T) {
	t.Parallel()
	o := &fingerprintOracle{schema: pgtest.NewSchema(t)}
	var valid, vouched, objects int
	for i := 0; i < 3000; i++ {
		seed := make([]byte, 256)
		x := uint32(i)*2654435761 + 1
		for j := range seed {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			seed[j] = byte(x)
		}
		g := &jsonGen{src: seed}
		v := g.value(0)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			va, vo := o.checkText(t, v)
			if va {
				valid++
			}
			if va && vo {
				vouched++
				if bytes.Contains(v, []byte("{")) {
					objects++
				}
			}
		})
	}
	// Compared enough to mean something: values PostgreSQL accepts, the
	// renderer vouches for, objects among them.
	t.Logf("%d valid, %d vouched, %d with objects", valid, vouched, objects)
	if vouched < 300 || objects < 100 {
		t.Errorf("only %d values vouched for, %d with objects", vouched, objects)
	}
}

// TestJSONBTextRefusesWhatPostgreSQLRefuses: values PostgreSQL refuses
// that the renderer once vouched for, as the generator found or as the
// limits of numeric make them: a repeated key's left-out value is still
// parsed, and numeric_in refuses more digits than numeric holds.
func TestJSONBTextRefusesWhatPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	o := &fingerprintOracle{schema: pgtest.NewSchema(t)}
	for _, v := range []string{
		`{"a": nul, "a": 1}`,
		`{"a": 01, "a": 1}`,
		`{"a": "\u0000", "a": 1}`,
		`{"a": "\ud800", "\u0061": 1}`,
		"{\"a\": \"\x01\", \"a\": 1}",
		`{"a": {"b": tru}, "a": 1}`,
		`{"a": [1, 2 3], "a": 1}`,
		`{"\u0061": [nul], "a": 1}`,
		"0." + strings.Repeat("1", 16384),
		"-0." + strings.Repeat("0", 16383) + "1",
		strings.Repeat("1", 131073),
		`{"a": ` + strings.Repeat("9", 131073) + `, "a": 1}`,
	} {
		if valid, vouched := o.checkText(t, []byte(v)); valid || vouched {
			t.Errorf("%.60q: PostgreSQL accepts it %v, the renderer vouches %v; want neither", v, valid, vouched)
		}
	}
}

// refsPayload is a generated body for EventRefs: a subscription object
// whose members are mostly those it reads (a customer, a plan with
// prices, price intervals), objects of jsonGen's values keyed mostly by
// the keys it looks up.
func (g *jsonGen) refsPayload() []byte {
	g.refs = true
	g.out = append(g.out, `{"subscription": {`...)
	for i, key := range []string{`customer`, `plan`, `price_intervals`} {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		if g.pick(5) == 0 {
			g.str(true) // another key, or the same spelled otherwise
		} else {
			g.out = append(g.out, '"')
			g.out = append(g.out, key...)
			g.out = append(g.out, '"')
		}
		g.out = append(g.out, ':')
		switch g.pick(6) {
		case 0:
			g.value(1)
		case 1, 2:
			g.refsList(1)
		default:
			g.refsObject(1)
		}
	}
	g.out = append(g.out, "}}"...)
	return g.out
}

// refsObject writes an object keyed mostly from refsKeyPieces, whose
// members named like a customer, plan or price are mostly objects or
// lists of them.
func (g *jsonGen) refsObject(depth int) {
	g.out = append(g.out, '{')
	n, i := g.pick(7), 0
	if g.pick(3) != 0 {
		// Mostly with an id, so that refs list it, somewhere among the
		// members (jsonb orders them anyway).
		n++
		i = 1
		g.out = append(g.out, []string{`"id": `, `"\u0069d":`}[g.pick(2)]...)
		g.str(false)
	}
	for ; i < n; i++ {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		g.space()
		key := ""
		if g.pick(4) != 0 {
			key = refsKeyPieces[g.pick(len(refsKeyPieces))]
			g.out = append(g.out, '"')
			g.out = append(g.out, key...)
			g.out = append(g.out, '"')
		} else {
			g.str(true)
		}
		g.space()
		g.out = append(g.out, ':')
		switch key {
		case `customer`, `plan`, `price`, `prices`, `pri\u0063es`, `price_intervals`:
			if depth < 6 && g.pick(5) != 0 {
				g.refsList(depth + 1)
				continue
			}
		}
		g.value(depth + 1)
	}
	g.out = append(g.out, '}')
}

// refsList writes an object of refsObject, or an array of them, of
// arrays of them and of other values.
func (g *jsonGen) refsList(depth int) {
	g.space()
	if g.pick(3) == 0 {
		g.refsObject(depth)
		g.space()
		return
	}
	g.out = append(g.out, '[')
	n := g.pick(5)
	for i := 0; i < n; i++ {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		switch g.pick(6) {
		case 0:
			g.value(depth + 1)
		case 1:
			g.refsList(depth + 1)
		default:
			g.space()
			g.refsObject(depth + 1)
		}
	}
	g.out = append(g.out, ']')
	g.space()
}

// FuzzEventRefsGenerated compares EventRefs with event_refs on payloads
// generated by jsonGen with the keys EventRefs reads: the fingerprints of
// the embedded customer, plan and prices (the plan's rendered once, its
// prices' taken from their spans in its text), over repeated and escaped
// keys ("prices", "pri\u0063es"), nested prices, jsonb's key order, every
// escape and number.
//
//	/work/qw go test -run '^$' -fuzz FuzzEventRefsGenerated -fuzztime 3m ./eventlog/
func FuzzEventRefsGenerated(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte("plan prices"), []byte("\x00\x05\x05\x00\x05\x01"),
		[]byte("\x0a\x01\x03\x00\x0a\x0a\x04\x02\x09\x00\x00\x03\x00\x0a\x01\x04\x00"),
	} {
		f.Add(seed)
	}
	o := newRefsOracle(f)
	f.Fuzz(func(t *testing.T, seed []byte) {
		g := &jsonGen{src: seed}
		o.check(t, g.refsPayload())
	})
}

// TestEventRefsGeneratedSeeds runs FuzzEventRefsGenerated's generator
// over fixed seeds in every test run, and checks it reaches what it is
// for: vouched refs with a plan's, a customer's and a price's fingerprint.
func TestEventRefsGeneratedSeeds(t *testing.T) {
	t.Parallel()
	o := newRefsOracle(t)
	var vouched, plans, customers, prices int
	for i := 0; i < 3000; i++ {
		seed := make([]byte, 2048)
		x := uint32(i)*2654435761 + 7
		for j := range seed {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			seed[j] = byte(x)
		}
		g := &jsonGen{src: seed}
		body := g.refsPayload()
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if valid, ok := o.check(t, body); !valid || !ok {
				return
			}
			vouched++
			refs, _ := EventRefs(body)
			var r struct {
				Subscription struct {
					Customer json.RawMessage
					Plan     json.RawMessage
				}
			}
			if json.Unmarshal(refs, &r) != nil {
				return
			}
			var c, p struct {
				FP     string
				Prices []struct{ FP string }
			}
			if json.Unmarshal(r.Subscription.Customer, &c) == nil && c.FP != "" {
				customers++
			}
			if json.Unmarshal(r.Subscription.Plan, &p) == nil && p.FP != "" {
				plans++
				for _, q := range p.Prices {
					if q.FP != "" {
						prices++
						break
					}
				}
			}
		})
	}
	t.Logf("%d vouched: %d with a customer fp, %d a plan fp, %d a plan and a price fp", vouched, customers, plans, prices)
	if vouched < 300 || customers < 50 || plans < 50 || prices < 30 {
		t.Errorf("only %d vouched: %d with a customer fp, %d a plan fp, %d a price fp", vouched, customers, plans, prices)
	}
}
