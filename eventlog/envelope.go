package eventlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrEnvelope is wrapped by every envelope parsing failure (answered 400).
var ErrEnvelope = errors.New("invalid webhook envelope")

// Envelope is what the log needs to know about an event before storing it.
// The body itself is stored untouched.
type Envelope struct {
	ID        string
	Type      string
	CreatedAt time.Time
	// ResourceType and ResourceID name the object the event is about, when
	// it carries one (e.g. "customer", "cus_123"); both empty otherwise.
	ResourceType string
	ResourceID   string
}

// maxEnvelopeField bounds id and type, which end up in indexes and labels.
const maxEnvelopeField = 255

// ParseEnvelope checks that body is a JSON object with string id, type and
// created_at, and finds the resource it is about.
func ParseEnvelope(body []byte) (Envelope, error) {
	fields := map[string][]byte{}
	err := objectFields(body, func(key, value []byte) bool {
		// The last of duplicate keys wins, as in jsonb and encoding/json.
		if k, ok := unquoteKey(key); ok {
			fields[k] = value
		}
		return true
	})
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: body is not a JSON object: %w", ErrEnvelope, err)
	}
	var env Envelope
	var createdAt string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &env.ID}, {"type", &env.Type}, {"created_at", &createdAt}} {
		raw, ok := fields[f.name]
		if !ok {
			return Envelope{}, fmt.Errorf("%w: missing %q", ErrEnvelope, f.name)
		}
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, f.dst) != nil {
			return Envelope{}, fmt.Errorf("%w: %q must be a string", ErrEnvelope, f.name)
		}
		if *f.dst == "" || len(*f.dst) > maxEnvelopeField {
			return Envelope{}, fmt.Errorf("%w: %q must be 1 to %d characters", ErrEnvelope, f.name, maxEnvelopeField)
		}
	}
	t, err := parseOrbTime(createdAt)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: created_at: %w", ErrEnvelope, err)
	}
	env.CreatedAt = t
	env.ResourceType, env.ResourceID = resourceOf(env.Type, fields)
	return env, nil
}

// unquoteKey returns a raw JSON key's text; keys with escapes are decoded
// the slow way.
func unquoteKey(raw []byte) (string, bool) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	var k string
	return k, json.Unmarshal(raw, &k) == nil
}

// parseOrbTime parses Orb's ISO-8601 times, with or without a zone.
func parseOrbTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return ParseTimestamp(s)
}

// resourceKeys maps an event type prefix to the payload key holding its
// object and the object's kind, where they differ from the prefix
// (FACTS.md §2.3: credit_block.* carries "block", sales_order.* "invoice").
var resourceKeys = map[string]struct{ key, kind string }{
	"credit_block": {"block", "credit_block"},
	"sales_order":  {"invoice", "invoice"},
}

// resourceOf finds the object an event is about: the payload key named after
// the type's prefix ("customer.edited" → "customer"), or after the part
// following "snapshot." for API snapshots. The object may be a bare id string
// (invoice.cost_data_exported).
func resourceOf(eventType string, fields map[string][]byte) (kind, id string) {
	prefix, rest, _ := strings.Cut(eventType, ".")
	switch prefix {
	case SnapshotTypePrefix:
		prefix = rest
	case reconcileTypePrefix:
		// The backfill's markers name their object's kind in a field.
		var kind string
		if raw := fields["resource_type"]; len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &kind) != nil {
			return "", ""
		}
		prefix = kind
	}
	key, kind := prefix, prefix
	if k, ok := resourceKeys[prefix]; ok {
		key, kind = k.key, k.kind
	}
	raw, ok := fields[key]
	if !ok {
		return "", ""
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if json.Unmarshal(raw, &id) == nil && id != "" {
			return kind, id
		}
		return "", ""
	}
	var rawID []byte
	if objectFields(raw, func(key, value []byte) bool {
		if string(key) == `"id"` {
			rawID = value
			return false
		}
		return true
	}) != nil || len(rawID) == 0 || rawID[0] != '"' || json.Unmarshal(rawID, &id) != nil || id == "" {
		// billable_metric.edited has been seen without an id; the event is
		// still stored, just not indexed by resource.
		return kind, ""
	}
	return kind, id
}

// SnapshotTypePrefix starts the type of events read from Orb's API rather
// than delivered as webhooks, e.g. "snapshot.customer".
const SnapshotTypePrefix = "snapshot"

// reconcileTypePrefix starts the type of markers the backfill's reconcile
// appends (e.g. "reconcile.missing"); their top-level "resource_type" names
// the key holding the object.
const reconcileTypePrefix = "reconcile"
