// Package webhooktest is a development and test tool, never run by the
// service: it generates realistic signed Orb webhooks and sends them to a
// running orb-sync (orb-sync loadgen), to measure the ack path, or appends
// them directly (Fill) for benchmarks and tests that need many realistic
// events.
//
// Bodies come from recorded payloads (fixtures/: a supabase/orb-sync-engine
// invoice and subscription fixture, and the customer embedded in the latter)
// with fresh event ids and resource ids drawn from a bounded pool, so the
// same customers, subscriptions and invoices are updated many times, as in a
// real account.
package webhooktest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

//go:embed fixtures/*.json
var fixtures embed.FS

// Kind is one of the event shapes the generator produces.
type Kind string

// The kinds of the reference mix, with their recorded sizes.
const (
	Customer     Kind = "customer"     // customer.edited, ~1 KB
	Subscription Kind = "subscription" // subscription.edited, ~54 KB
	Invoice      Kind = "invoice"      // invoice.issued, ~4 KB
)

// Kinds lists every kind, in mix order.
var Kinds = []Kind{Customer, Subscription, Invoice}

var eventTypes = map[Kind]string{
	Customer:     "customer.edited",
	Subscription: "subscription.edited",
	Invoice:      "invoice.issued",
}

// Placeholders substituted into every body.
const (
	phEventID      = "__EVENT_ID__"
	phCreatedAt    = "__CREATED_AT__"
	phCustomerID   = "__CUSTOMER_ID__"
	phSubscription = "__SUBSCRIPTION_ID__"
	phInvoiceID    = "__INVOICE_ID__"
	phSequence     = "__SEQUENCE__"
)

// template is a body split around its placeholders, for fast substitution.
type template struct {
	parts        [][]byte
	placeholders []string
}

// Generator makes event bodies. It is not safe for concurrent use; give each
// goroutine its own (New is cheap after the first call).
type Generator struct {
	templates map[Kind]*template
	entities  int
	rng       *rand.Rand
	prefix    string
	n         uint64
	clock     func() time.Time
	last      time.Time // the newest created_at given, to keep them distinct
}

// New returns a generator whose resource ids are drawn from entities ids per
// kind (at least 1). seed makes the sequence reproducible.
func New(entities int, seed uint64) (*Generator, error) {
	templates, err := loadTemplates()
	if err != nil {
		return nil, err
	}
	return &Generator{
		templates: templates,
		entities:  max(entities, 1),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		prefix:    "lg" + strconv.FormatUint(seed, 36) + "_" + strconv.FormatInt(time.Now().UnixNano(), 36) + "_",
		clock:     time.Now,
	}, nil
}

// Next returns a new event of kind: its type, id and body. Each call yields
// a unique event id; the resource it is about is one of the pool's.
func (g *Generator) Next(kind Kind) (eventType, eventID string, body []byte) {
	return g.NextFor(kind, g.rng.IntN(g.entities))
}

// createdAt is the clock's time in Orb's precision (microseconds), made
// later than the previous event's when the clock has not moved on: two
// events generated within one microsecond would otherwise tie on
// created_at, and a tie is broken by log position, which differs between
// two deliveries of the same events (a check comparing their tables would
// then see a difference by design, not a bug).
func (g *Generator) createdAt() time.Time {
	t := g.clock().UTC().Truncate(time.Microsecond)
	if !t.After(g.last) {
		t = g.last.Add(time.Microsecond)
	}
	g.last = t
	return t
}

// NextFor is Next about a chosen entity (0 to entities-1 are the pool's):
// the seed phase of a workload creates each one in turn.
func (g *Generator) NextFor(kind Kind, n int) (eventType, eventID string, body []byte) {
	g.n++
	eventID = g.prefix + strconv.FormatUint(g.n, 10)
	entity := strconv.Itoa(n)
	values := map[string]string{
		phEventID:      eventID,
		phCreatedAt:    g.createdAt().Format("2006-01-02T15:04:05.000000+00:00"),
		phCustomerID:   "cus_" + entity,
		phSubscription: "sub_" + entity,
		phInvoiceID:    "inv_" + entity,
		phSequence:     strconv.FormatUint(g.n, 10),
	}
	t := g.templates[kind]
	var b bytes.Buffer
	for i, part := range t.parts {
		b.Write(part)
		if i < len(t.placeholders) {
			b.WriteString(values[t.placeholders[i]])
		}
	}
	return eventTypes[kind], eventID, b.Bytes()
}

// loadTemplates turns the recorded payloads into templates. Values that
// change from event to event (so that projections see real updates) are a
// sequence number in a metadata key, which every object has.
func loadTemplates() (map[Kind]*template, error) {
	customer, err := readJSON("fixtures/customer.json")
	if err != nil {
		return nil, err
	}
	customer["id"] = phCustomerID
	customer["metadata"] = map[string]any{"loadgen_sequence": phSequence}

	sub, err := readJSON("fixtures/subscription.json")
	if err != nil {
		return nil, err
	}
	subObj := sub["subscription"].(map[string]any)
	subObj["id"] = phSubscription
	subObj["metadata"] = map[string]any{"loadgen_sequence": phSequence}
	subObj["customer"].(map[string]any)["id"] = phCustomerID

	inv, err := readJSON("fixtures/invoice.json")
	if err != nil {
		return nil, err
	}
	invObj := inv["invoice"].(map[string]any)
	invObj["id"] = phInvoiceID
	invObj["metadata"] = map[string]any{"loadgen_sequence": phSequence}
	invObj["customer"].(map[string]any)["id"] = phCustomerID
	invObj["subscription"] = map[string]any{"id": phSubscription}

	bodies := map[Kind]map[string]any{
		Customer:     {"customer": customer, "properties": map[string]any{"previous_attributes": map[string]any{"metadata": map[string]any{}}}},
		Subscription: sub,
		Invoice:      inv,
	}
	out := make(map[Kind]*template, len(bodies))
	for kind, body := range bodies {
		body["id"] = phEventID
		body["type"] = eventTypes[kind]
		body["created_at"] = phCreatedAt
		// Indented like the recorded payloads, so sizes match the reference mix.
		raw, err := json.MarshalIndent(body, "", "  ")
		if err != nil {
			return nil, err
		}
		out[kind] = split(raw)
	}
	return out, nil
}

func readJSON(name string) (map[string]any, error) {
	raw, err := fixtures.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	return v, nil
}

func split(raw []byte) *template {
	t := &template{}
	all := []string{phEventID, phCreatedAt, phCustomerID, phSubscription, phInvoiceID, phSequence}
	for {
		first, which := -1, ""
		for _, ph := range all {
			if i := bytes.Index(raw, []byte(ph)); i >= 0 && (first < 0 || i < first) {
				first, which = i, ph
			}
		}
		if first < 0 {
			t.parts = append(t.parts, raw)
			return t
		}
		t.parts = append(t.parts, raw[:first])
		t.placeholders = append(t.placeholders, which)
		raw = raw[first+len(which):]
	}
}
