package orbapitest

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// resource describes one collection the fake serves.
type resource struct {
	// typeName names the object in 404 details, as Orb does.
	typeName string
	// sortField orders the list, newest first: invoices by invoice_date,
	// everything else by created_at. Objects without it sort last, by id.
	sortField string
	// timeFilter is the field accepted as field[gt|gte|lt|lte], or "".
	timeFilter string
}

// resources are the collections the fake serves, with the filters Orb
// documents for each (FACTS §3.1). Other query parameters are ignored.
var resources = map[string]resource{
	"customers":      {typeName: "Customer", sortField: "created_at", timeFilter: "created_at"},
	"subscriptions":  {typeName: "Subscription", sortField: "created_at", timeFilter: "created_at"},
	"invoices":       {typeName: "Invoice", sortField: "invoice_date", timeFilter: "invoice_date"},
	"credit_notes":   {typeName: "CreditNote", sortField: "created_at", timeFilter: "created_at"},
	"plans":          {typeName: "Plan", sortField: "created_at", timeFilter: "created_at"},
	"metrics":        {typeName: "BillableMetric", sortField: "created_at", timeFilter: "created_at"},
	"items":          {typeName: "Item", sortField: "created_at"},
	"coupons":        {typeName: "Coupon", sortField: "created_at"},
	"prices":         {typeName: "Price", sortField: "created_at"},
	"webhook_events": {typeName: "WebhookEvent", sortField: "created_at", timeFilter: "created_at"},
}

// Resources returns the names of the collections the fake serves.
func Resources() []string {
	return slices.Sorted(maps.Keys(resources))
}

// object is a stored object with the fields the fake filters on.
type object struct {
	id     string
	raw    json.RawMessage
	fields map[string]json.RawMessage // Top-level members.
	sort   time.Time                  // Zero when the sort field is absent.
}

// Put adds objects to a collection, replacing any with the same id. Each
// must be a JSON object with a string "id". Put fails the test on bad input,
// so call it from the test goroutine.
func (s *Server) Put(resourceName string, objs ...json.RawMessage) {
	s.tb.Helper()
	res, ok := resources[resourceName]
	if !ok {
		s.tb.Fatalf("orbapitest: unknown resource %q; want one of %v", resourceName, Resources())
	}
	parsed := make([]object, 0, len(objs))
	for _, raw := range objs {
		o, err := parseObject(raw, res.sortField)
		if err != nil {
			s.tb.Fatalf("orbapitest: putting %s: %v", resourceName, err)
		}
		parsed = append(parsed, o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range parsed {
		s.objects[resourceName][o.id] = o
	}
}

// Delete removes an object and reports whether it was there.
func (s *Server) Delete(resourceName, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objects[resourceName][id]
	delete(s.objects[resourceName], id)
	return ok
}

// Len returns how many objects a collection holds, hidden ones included.
func (s *Server) Len(resourceName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objects[resourceName])
}

// parseObject checks raw and extracts what the fake needs from it.
func parseObject(raw json.RawMessage, sortField string) (object, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return object{}, err
	}
	o := object{raw: slices.Clone(raw), fields: fields}
	if err := json.Unmarshal(fields["id"], &o.id); err != nil || o.id == "" {
		return object{}, errNoID
	}
	if t, ok, err := timeField(fields, sortField); err != nil {
		return object{}, err
	} else if ok {
		o.sort = t
	}
	return o, nil
}

// timeField parses fields[name] as an RFC 3339 time. A missing or null
// member reports false.
func timeField(fields map[string]json.RawMessage, name string) (time.Time, bool, error) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false, err
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, err
	}
	return t, true, nil
}
