package orbapitest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// invoiceStatusesDefault are the statuses GET /invoices returns when the
// request names none: drafts and voids stay hidden, as in Orb.
var invoiceStatusesDefault = []string{"issued", "paid", "synced"}

// newFilter builds the predicate for a list request from its query.
func newFilter(name string, res resource, q url.Values) (func(object) bool, error) {
	var preds []func(object) bool
	if res.timeFilter != "" {
		p, err := timeRangeFilter(res.timeFilter, q)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p...)
	}
	switch name {
	case "invoices":
		preds = append(preds, invoiceStatusFilter(q))
	case "coupons":
		if q.Get("show_archived") != "true" {
			preds = append(preds, func(o object) bool { return isNull(o.fields["archived_at"]) })
		}
	case "webhook_events":
		p, err := webhookEventFilters(q)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p...)
	}
	return func(o object) bool {
		for _, p := range preds {
			if !p(o) {
				return false
			}
		}
		return true
	}, nil
}

// timeRangeFilter reads field[gt|gte|lt|lte]. An object without the field
// never matches a range.
func timeRangeFilter(field string, q url.Values) ([]func(object) bool, error) {
	ops := map[string]func(t, bound time.Time) bool{
		"gt":  func(t, b time.Time) bool { return t.After(b) },
		"gte": func(t, b time.Time) bool { return !t.Before(b) },
		"lt":  func(t, b time.Time) bool { return t.Before(b) },
		"lte": func(t, b time.Time) bool { return !t.After(b) },
	}
	var preds []func(object) bool
	for op, cmp := range ops {
		key := field + "[" + op + "]"
		v := q.Get(key)
		if v == "" {
			continue
		}
		bound, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("%s: must be an RFC 3339 date-time, got %q", key, v)
		}
		preds = append(preds, func(o object) bool {
			t, ok, err := timeField(o.fields, field)
			return err == nil && ok && cmp(t, bound)
		})
	}
	return preds, nil
}

// invoiceStatusFilter reads status[] (or status), defaulting to
// invoiceStatusesDefault.
func invoiceStatusFilter(q url.Values) func(object) bool {
	want := slices.Concat(q["status[]"], q["status"])
	if len(want) == 0 {
		want = invoiceStatusesDefault
	}
	return func(o object) bool {
		var status string
		_ = json.Unmarshal(o.fields["status"], &status) // Missing status matches nothing.
		return slices.Contains(want, status)
	}
}

// webhookEventFilters reads delivery_success and event_type.
func webhookEventFilters(q url.Values) ([]func(object) bool, error) {
	var preds []func(object) bool
	switch v := q.Get("delivery_success"); v {
	case "":
	case "true", "false":
		want := v == "true"
		preds = append(preds, func(o object) bool {
			var delivered bool
			return json.Unmarshal(o.fields["is_delivered"], &delivered) == nil && delivered == want
		})
	default:
		return nil, fmt.Errorf("delivery_success: must be true or false, got %q", v)
	}
	if v := q.Get("event_type"); v != "" {
		preds = append(preds, func(o object) bool {
			var typ string
			return json.Unmarshal(o.fields["type"], &typ) == nil && typ == v
		})
	}
	return preds, nil
}

// isNull reports whether a member is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}
