package orbapitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var errNoID = errors.New(`object needs a non-empty string "id"`)

// timestampLayout is how Orb writes times: UTC with a "+00:00" offset and
// microseconds when there are any.
const timestampLayout = "2006-01-02T15:04:05.999999-07:00"

// Timestamp formats t the way Orb does, e.g. "2025-01-08T08:19:20.76328+00:00".
func Timestamp(t time.Time) string {
	return t.UTC().Format(timestampLayout)
}

// Object returns {"id": id, "created_at": Timestamp(createdAt)} plus fields,
// which win over the two. A zero createdAt leaves created_at out, as for
// coupons. It panics if fields cannot be encoded.
func Object(id string, createdAt time.Time, fields map[string]any) json.RawMessage {
	m := map[string]any{"id": id}
	if !createdAt.IsZero() {
		m["created_at"] = Timestamp(createdAt)
	}
	for k, v := range fields {
		m[k] = v
	}
	raw, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("orbapitest: encoding object %s: %v", id, err))
	}
	return raw
}

// Invoice returns an invoice with invoice_date and created_at set to date
// and the given status (draft, issued, paid, synced or void).
func Invoice(id string, date time.Time, status string) json.RawMessage {
	return Object(id, date, map[string]any{"invoice_date": Timestamp(date), "status": status})
}

// WebhookEvent returns an item of GET /webhook_events:
// {id, type, created_at, is_delivered, payload, delivery_attempts}.
// payload is the webhook body; nil means {}.
func WebhookEvent(id, eventType string, createdAt time.Time, delivered bool, payload json.RawMessage) json.RawMessage {
	if payload == nil {
		payload = json.RawMessage("{}")
	}
	return Object(id, createdAt, map[string]any{
		"type":              eventType,
		"is_delivered":      delivered,
		"payload":           payload,
		"delivery_attempts": []any{},
	})
}
