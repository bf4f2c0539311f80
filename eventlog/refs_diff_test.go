package eventlog

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// These tests need no PostgreSQL: they compare the indexed, pooled
// EventRefs and the renderer's single-check strings with the code they
// replaced (refs_old_test.go), which the PostgreSQL oracles have covered
// longer. Any difference, on any bytes, is a regression.

// checkRefsAsBefore fails t unless EventRefs(b) is the old EventRefs(b),
// byte for byte, ok included.
func checkRefsAsBefore(t *testing.T, b []byte) {
	t.Helper()
	want, wantOK := oldEventRefs(b)
	got, ok := EventRefs(b)
	if wantOK && !ok && nesting(b) > maxJSONBDepth {
		return // refused on purpose since the old code (TestEventRefsRefusesDeepCopiedValues)
	}
	if ok != wantOK || !bytes.Equal(got, want) || (got == nil) != (want == nil) {
		t.Fatalf("EventRefs(%.300q) = %q, %v; before the index: %q, %v", b, got, ok, want, wantOK)
	}
}

// checkTextAsBefore fails t unless jsonbText renders b (from its first
// byte) as the old renderer did: the same text, end and ok, with and
// without a watched "prices".
func checkTextAsBefore(t *testing.T, b []byte) {
	t.Helper()
	for _, watch := range []string{"", "prices"} {
		var nt jsonbText
		var ot oldJSONBText
		nt.watch, ot.watch = watch, watch
		nend, nok := nt.value(b, 0, 0)
		oend, ook := ot.value(b, 0, 0)
		if nok != ook || (nok && (nend != oend || !bytes.Equal(nt.buf, ot.buf) || fmt.Sprint(nt.watched) != fmt.Sprint(ot.watched))) {
			t.Fatalf("jsonbText.value(%.300q) watching %q = %d, %v, %q, %v; before: %d, %v, %q, %v",
				b, watch, nend, nok, nt.buf, nt.watched, oend, ook, ot.buf, ot.watched)
		}
	}
}

// diffBodies are the bodies the differential tests start from: the
// recorded payloads, refsCases, skipCases, jsonbTextCases and generated
// refs payloads.
func diffBodies(t testing.TB) [][]byte {
	var bodies [][]byte
	bodies = append(bodies, refsFixtures(t)...)
	for _, c := range append(append(append([]string{}, refsCases...), skipCases...), jsonbTextCases...) {
		bodies = append(bodies, []byte(c))
	}
	for i := range 500 {
		g := &jsonGen{src: []byte(fmt.Sprintf("%d seed for the generator %d", i, i*7919))}
		bodies = append(bodies, g.refsPayload())
	}
	return bodies
}

// TestEventRefsAsBefore: on every body, and on every prefix of the
// smaller ones (truncated input), EventRefs and the renderer answer as the
// code before the index and the pool did.
func TestEventRefsAsBefore(t *testing.T) {
	t.Parallel()
	for _, b := range diffBodies(t) {
		checkRefsAsBefore(t, b)
		checkTextAsBefore(t, b)
		if len(b) <= 4<<10 {
			for n := range len(b) {
				checkRefsAsBefore(t, b[:n])
				checkTextAsBefore(t, b[:n])
			}
		}
	}
}

// FuzzEventRefsAsBefore compares EventRefs and the renderer with the code
// before the index on mutated bodies:
//
//	/work/qw go test -run '^$' -fuzz FuzzEventRefsAsBefore -fuzztime 3m ./eventlog/
func FuzzEventRefsAsBefore(f *testing.F) {
	for _, b := range diffBodies(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRefsAsBefore(t, b)
		checkTextAsBefore(t, b)
	})
}

// FuzzEventRefsGeneratedAsBefore is FuzzEventRefsAsBefore on payloads
// jsonGen writes with the keys EventRefs reads (mutated bytes rarely keep
// a subscription with a plan and prices valid):
//
//	/work/qw go test -run '^$' -fuzz FuzzEventRefsGeneratedAsBefore -fuzztime 3m ./eventlog/
func FuzzEventRefsGeneratedAsBefore(f *testing.F) {
	for _, seed := range [][]byte{
		{}, {0}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte("plan prices"), []byte("\x00\x05\x05\x00\x05\x01"),
		[]byte("\x0a\x01\x03\x00\x0a\x0a\x04\x02\x09\x00\x00\x03\x00\x0a\x01\x04\x00"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed []byte) {
		b := (&jsonGen{src: seed}).refsPayload()
		checkRefsAsBefore(t, b)
		checkTextAsBefore(t, b)
		v := (&jsonGen{src: seed}).value(0)
		checkTextAsBefore(t, v)
	})
}

// TestEventRefsPooledConcurrently: refs returned by EventRefs are their
// own (not a pooled buffer a later call overwrites), and concurrent calls
// on different bodies (a pooled writer's buffers, index and text reused
// from one to the next, some of them dropped for their size) each get
// their own body's refs. Run with -race.
func TestEventRefsPooledConcurrently(t *testing.T) {
	t.Parallel()
	bodies := diffBodies(t)
	// A body whose buffers outgrow maxPooledRefsBytes, so that the pool
	// also drops writers.
	big := `{"subscription": {"customer": {"id": "c", "n": "` + strings.Repeat("x", maxPooledRefsBytes) + `"}, "plan": {"id": "p", "prices": [{"id": "q"}]}}}`
	bodies = append(bodies, []byte(big))
	type result struct {
		refs []byte
		ok   bool
	}
	want := make([]result, len(bodies))
	for i, b := range bodies {
		want[i].refs, want[i].ok = oldEventRefs(b)
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var kept []result
			for round := range 3 {
				for k := range bodies {
					i := (k*7 + w*13 + round) % len(bodies)
					refs, ok := EventRefs(bodies[i])
					if ok != want[i].ok || !bytes.Equal(refs, want[i].refs) {
						errs <- fmt.Sprintf("body %d: %.200q, %v; want %.200q, %v", i, refs, ok, want[i].refs, want[i].ok)
						return
					}
					if round == 0 {
						kept = append(kept, result{refs, ok})
					}
				}
			}
			// What the first round returned must not have changed since.
			for k, r := range kept {
				i := (k*7 + w*13) % len(bodies)
				if !bytes.Equal(r.refs, want[i].refs) {
					errs <- fmt.Sprintf("body %d's refs changed after later calls: %.200q, want %.200q", i, r.refs, want[i].refs)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestEventRefsRefusesDeepCopiedValues: a value EventRefs copies into the
// skeleton (a customer that is not an object, an id) was copied by
// unbounded recursion, a few frames per level: a body of 4M nested
// arrays (8 MB, under the receiver's 10 MB limit) ran over 5 minutes on
// one request, its stack growing toward Go's 1 GB limit (a fatal error no
// recover catches). Past maxJSONBDepth, as for the rendered objects, the
// refs are left to the trigger (PostgreSQL bounds nesting itself).
func TestEventRefsRefusesDeepCopiedValues(t *testing.T) {
	t.Parallel()
	for _, n := range []int{maxJSONBDepth + 2, 1 << 16} {
		for _, b := range []string{
			`{"subscription": {"customer": ` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}`,
			`{"subscription": {"customer": {"id": ` + strings.Repeat(`{"a": `, n) + `1` + strings.Repeat("}", n) + `}}}`,
		} {
			if refs, ok := EventRefs([]byte(b)); ok {
				t.Errorf("depth %d: EventRefs vouches for refs (%d bytes) it copied by recursion", n, len(refs))
			}
		}
	}
	shallow := `{"subscription": {"customer": ` + strings.Repeat("[", 10) + strings.Repeat("]", 10) + `}}`
	if _, ok := EventRefs([]byte(shallow)); !ok {
		t.Error("EventRefs refuses a shallow copied array")
	}
}

// nesting is the deepest bracket nesting in b outside strings.
func nesting(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end, err := skipString(b, i)
			if err != nil {
				return deepest
			}
			i = end - 1
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}
