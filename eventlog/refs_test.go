package eventlog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/sql/pgtest"
)

// refsCases are payloads whose skeleton is easy to get wrong: every shape
// event_refs (migration 017) distinguishes, JSON path's lax unwrapping,
// nulls at every depth, repeated and escaped keys.
var refsCases = []string{
	`{}`, `[]`, `"subscription"`, `1`, `null`, ` {"subscription": {}} `,
	`{"subscription": null}`, `{"subscription": []}`, `{"subscription": "s"}`, `{"subscription": {"customer": null}}`,
	`{"subscription": {"customer": "cus_1", "plan": 7, "price_intervals": null}}`,
	`{"subscription": {"customer": [{"a": null, "b": [null, {"c": null}]}, null], "plan": [1, {"id": null}]}}`,
	`{"subscription": {"customer": {}, "plan": {}}}`,
	`{"subscription": {"customer": {"id": null, "email": null}, "plan": {"id": null, "version": null, "prices": null}}}`,
	`{"subscription": {"customer": {"id": {"x": null, "y": [null, {"z": null}]}, "email": "a@b"}}}`,
	`{"subscription": {"customer": {"id": "c1", "email": "e", "id": "c2"}}}`,
	`{"subscription": {"customer": {"id": "c1"}}, "subscription": {"customer": {"email": 1}}}`,
	`{"subscr\u0069ption": {"customer": {"\u0069d": "c\u00e9\"\\", "em\u0061il": 0}}}`,
	`{"subscription": {"plan": {"id": "p", "version": 3, "prices": []}}}`,
	`{"subscription": {"plan": {"id": 1.0, "version": 1e2, "prices": {"id": "single"}}}}`,
	`{"subscription": {"plan": {"prices": "str"}}}`,
	`{"subscription": {"plan": {"prices": [[{"id": 1}, [{"id": 2}], 3, {"id": null}], {"noid": 1}, {"id": null}, null, "x", {"id": [1, null, {"a": null}]}]}}}`,
	`{"subscription": {"price_intervals": []}}`,
	`{"subscription": {"price_intervals": {}}}`,
	`{"subscription": {"price_intervals": {"price": {"id": "p"}}}}`,
	`{"subscription": {"price_intervals": "s"}}`,
	`{"subscription": {"price_intervals": [{"price": [{"id": "a"}, [{"id": "b"}], {"id": null}, 5]}, [{"price": {"id": "c"}}, {"x": 1}, [{"price": {"id": "d"}}], 2], "s", null, {"price": null}, {"price": {"noid": 1}}, {"price": {"id": "e"}, "price": {"id": "f"}}]}}`,
	`{"subscription": {"price_intervals": [{"price": [[{"id": "deep"}]]}]}}`,
	"{\"subscription\":\t{\r\n\"customer\" :{ \"id\" : \"c\" } ,\"plan\":{\"id\":\"p\",\"prices\":[ {\"id\":\"q\"} ] } } }",
	`{"subscription": {"customer": {"id": "c", "id": null}}}`,
	`{"subscription": {"customer": {"id": {"k": 1, "k": null}}}}`,
	`{"subscription": {"id": "sub", "customer": {"id": "c", "email": "e", "name": "n"}, "plan": {"id": "p", "version": 2, "prices": [{"id": "p1", "x": {}}, {"id": "p2"}]}, "price_intervals": [{"id": "i", "price": {"id": "p1"}}]}}`,
	`{"subscription": {"customer": {"id": "c", "email": "e", "b": [1, {"z": 1, "a": "\u00e9"}], "a": null}, "plan": {"id": "p", "zz": 1, "prices": [{"id": "q", "b": 1, "a": 2}, [{"id": "r"}], {"id": "s"}, {"id": "t", "id": "u"}], "a": {"prices": [{"id": "x"}]}}}}`,
	`{"subscription": {"plan": {"id": "p", "prices": [{"id": "q"}], "prices": [{"id": "r", "y": 1}, {"id": "s"}]}}}`,
	`{"subscription": {"plan": {"id": "p", "prices": [{"id": "q"}], "prices": null}}}`,
	`{"subscription": {"plan": {"prices": {"id": "single", "v": [1, 2]}, "id": "p", "long_key_first": {"prices": 1}}}}`,
	`{"subscription": {"plan": {"id": "p", "prices": [{"id": "q", "n": 1e2}]}}}`,
	`{"subscription": {"customer": {"id": "c", "balance": 1e2}}}`,
	// The plan's prices taken from its text (025): the kept one of
	// "prices" spelled two ways, prices nested in prices, in other members
	// and in the customer, keys sorted around "prices", repeated ids.
	`{"subscription": {"plan": {"prices": [{"id": "a", "n": 1}], "pri\u0063es": [{"id": "b", "n": 2}, {"id": "c"}]}}}`,
	`{"subscription": {"plan": {"pri\u0063es": [{"id": "a", "n": 1}], "prices": [{"id": "b", "n": 2}]}}}`,
	`{"subscription": {"plan": {"prices": {"id": "a", "prices": [{"id": "x"}], "b": {"prices": {"id": "y"}}}, "pricez": [{"id": "z"}], "pricea": 1}}}`,
	`{"subscription": {"plan": {"zzzzzz": {"b": 2, "a": 1}, "prices": [{"id": "é", "\u00e9": "\n"}, [{"id": "n"}], {"b": 1, "id": "q", "a": [{"id": 3}]}], "aaaaaa": [1, {"z": 1, "y": 2}], "a": {"prices": [{"id": 4}]}}}}`,
	`{"subscription": {"plan": {"prices": [{"id": "a"}], "x": {"prices": [{"id": "b"}]}, "prices": [{"id": "c", "v": "\u2028\/"}]}}}`,
	`{"subscription": {"plan": {"prices": [{"id": "a"}, {"id": "a"}, {"noid": "a"}, {"id": "b"}], "id": "p", "id": 7}}}`,
	`{"subscription": {"plan": {"prices": [], "id": "p"}, "plan": {"prices": [{"id": "q"}], "id": "p2"}}}`,
	`{"subscription": {"customer": {"id": "c", "email": null, "prices": [{"id": "x"}]}, "plan": {"prices": [{"id": "q", "prices": [{"id": "r"}]}]}}}`,
	`{"subscription": {"customer": {"id": "c", "email": "e", "balance": 123456789012345678901234567890.1234567890}, "plan": {"prices": [{"id": "q", "n": -0.5, "m": 0.000}]}}}`,
	`{"subscription": {"plan": {"prices": {"id": "single", "prices": {"id": "inner"}}, "id": "p"}}}`,
	`{"subscription": {"plan": {"prices": [{"id": "q", "s": "\ud83d\ude00\u001f\u007f"}], "long_long_key": 1, "é": 2, "ab": 3}}}`,
	`{"subscription": {"customer": {"id": 7, "email": "e"}, "plan": {"id": "", "prices": [{"id": ""}]}}}`,
	`{"subscription": {}} x`, `{"subscription": {"plan": {"prices": [}}}`, `{"a": "\"}"}`, ``,
}

// refsFixtures are the repository's recorded payloads, as seeds.
func refsFixtures(t testing.TB) [][]byte {
	t.Helper()
	dirs := []string{"webhook/webhooktest/fixtures", "../projector/testdata"}
	if extra := os.Getenv("ORB_REFS_SAMPLES"); extra != "" {
		dirs = append(dirs, extra) // e.g. a directory of Orb's sample payloads
	}
	var bodies [][]byte
	for _, dir := range dirs {
		paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, b)
		}
	}
	if len(bodies) == 0 {
		t.Fatal("no fixtures found")
	}
	return bodies
}

// refsOracle compares EventRefs with the log's event_refs.
type refsOracle struct {
	schema *pgtest.Schema
}

func newRefsOracle(t testing.TB) *refsOracle {
	return &refsOracle{schema: pgtest.NewSchema(t)}
}

// check reports whether body is JSON PostgreSQL accepts and whether
// EventRefs vouched for its skeleton, and fails t if that skeleton is not
// event_refs'.
func (o *refsOracle) check(t *testing.T, body []byte) (valid, vouched bool) {
	t.Helper()
	ctx := context.Background()
	var want *string
	err := o.schema.Pool.QueryRow(ctx, "select "+pgx.Identifier{o.schema.Name, "event_refs"}.Sanitize()+
		"(convert_from($1::bytea, 'UTF8')::jsonb)::text", body).Scan(&want)
	if IsDataError(err) {
		return false, false
	}
	if err != nil {
		t.Fatal(err)
	}
	refs, ok := EventRefs(body)
	if !ok {
		return true, false
	}
	var same bool
	err = o.schema.Pool.QueryRow(ctx, "select $1::jsonb is not distinct from convert_from($2::bytea, 'UTF8')::jsonb",
		want, refs).Scan(&same)
	if err != nil {
		t.Fatalf("EventRefs(%q) = %q: %v", body, refs, err)
	}
	if !same {
		t.Errorf("EventRefs(%q) = %q, event_refs gives %s", body, refs, deref(want))
	}
	return true, true
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

// TestEventRefsMatchesSQL: the skeleton the service builds is the one
// event_refs builds from the parsed payload, for the recorded payloads and
// the odd ones, and EventRefs vouches for every valid one but those with
// repeated keys inside a value it copies.
func TestEventRefsMatchesSQL(t *testing.T) {
	t.Parallel()
	o := newRefsOracle(t)
	var withRefs int
	for _, b := range refsFixtures(t) {
		valid, vouched := o.check(t, b)
		if !valid || !vouched {
			t.Errorf("fixture %.60q: valid %v, vouched %v", b, valid, vouched)
		}
		if refs, _ := EventRefs(b); refs != nil {
			withRefs++
		}
	}
	if withRefs == 0 {
		t.Error("no fixture has a subscription: the comparison covers nothing real")
	}
	for _, c := range refsCases {
		valid, vouched := o.check(t, []byte(c))
		// A copied object with a repeated key, or an embedded object
		// whose text the renderer does not vouch for (an exponent):
		// the trigger builds those refs.
		refused := strings.Contains(c, `"k": 1, "k"`) || strings.Contains(c, `1e2`)
		if valid && !vouched && !refused {
			t.Errorf("EventRefs(%q) does not vouch for valid JSON", c)
		}
		if valid && vouched && refused {
			t.Errorf("EventRefs(%q) vouches for a copied object with a repeated key, or an unrenderable one", c)
		}
	}
}

// FuzzEventRefs compares EventRefs with event_refs on mutated payloads
// (go test -fuzz FuzzEventRefs ./eventlog/; without -fuzz it runs the
// seeds).
func FuzzEventRefs(f *testing.F) {
	for _, b := range refsFixtures(f) {
		f.Add(b)
	}
	for _, c := range refsCases {
		f.Add([]byte(c))
	}
	o := newRefsOracle(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		o.check(t, body)
	})
}

// TestAppendStoresRefsAsTheLogBuildsThem: whichever side builds refs (the
// service, or the trigger for an event sent without them), the stored
// refs are event_refs(payload), for every event type that carries a
// subscription object and for no other payload.
func TestAppendStoresRefsAsTheLogBuildsThem(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	var events []Event
	for i, c := range []string{
		`{"subscription": {"customer": {"id": "c"}, "plan": {"id": "p", "prices": [{"id": "q"}]}}}`,
		`{"subscription": {"customer": {"id": {"k": 1, "k": null}}}}`, // not vouched for: the trigger builds it
		`{"subscription": "s"}`,
		`{"customer": {"id": "c"}}`,
	} {
		for j, typ := range []string{"subscription.edited", "invoice.issued"} {
			body := []byte(`{"id": "e` + string(rune('a'+i)) + string(rune('a'+j)) + `", "type": "` + typ + `", "created_at": "2025-01-08T08:19:20Z", ` + c[1:])
			env, err := ParseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, Event{Envelope: env, Body: body})
		}
	}
	if _, err := b.appender.AppendBatch(ctx, events); err != nil {
		t.Fatal(err)
	}
	var differ, withRefs int
	err := b.schema.Pool.QueryRow(ctx, `select count(*) filter (where refs is distinct from `+
		pgx.Identifier{b.schema.Name, "event_refs"}.Sanitize()+`(payload)), count(refs) from `+
		pgx.Identifier{b.schema.Name, "events"}.Sanitize()).Scan(&differ, &withRefs)
	if err != nil {
		t.Fatal(err)
	}
	if differ != 0 || withRefs != 4 {
		t.Errorf("%d events' refs differ from event_refs(payload); %d have refs, want 4", differ, withRefs)
	}
}

// TestEventRefsWideCopiedObject: an object copied into refs with more
// members than smallObjectKeys has its repeated keys found through a set,
// as a small one has them found by comparison: refused when a key
// repeats (first, middle or last), and built as event_refs builds it
// otherwise.
func TestEventRefsWideCopiedObject(t *testing.T) {
	t.Parallel()
	o := newRefsOracle(t)
	wide := func(n int, repeat string) []byte {
		var b strings.Builder
		b.WriteString(`{"subscription": {"customer": {"id": {`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"k%d": %d`, i, i)
		}
		if repeat != "" {
			fmt.Fprintf(&b, `, %q: null`, repeat)
		}
		b.WriteString(`}}}}`)
		return []byte(b.String())
	}
	for _, n := range []int{smallObjectKeys, smallObjectKeys + 1, 3 * smallObjectKeys, 2000} {
		if valid, vouched := o.check(t, wide(n, "")); !valid || !vouched {
			t.Errorf("%d distinct keys: valid %v, vouched %v", n, valid, vouched)
		}
		for _, repeat := range []string{"k0", fmt.Sprintf("k%d", n/2), fmt.Sprintf("k%d", n-1)} {
			if _, vouched := o.check(t, wide(n, repeat)); vouched {
				t.Errorf("%d keys, %s repeated: EventRefs vouches for a copied object with a repeated key", n, repeat)
			}
		}
	}
}
