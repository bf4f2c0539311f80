package eventlog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		body             string
		wantErr          bool
		wantKind, wantID string
		wantCreated      time.Time
	}{
		{name: "customer", body: `{"id":"e1","type":"customer.edited","created_at":"2025-01-08T08:19:20.763280+00:00","customer":{"id":"cus_1"}}`,
			wantKind: "customer", wantID: "cus_1", wantCreated: time.Date(2025, 1, 8, 8, 19, 20, 763280000, time.UTC)},
		{name: "zone-less created_at", body: `{"id":"e1","type":"x.y","created_at":"2025-01-08T08:19:20"}`,
			wantCreated: time.Date(2025, 1, 8, 8, 19, 20, 0, time.UTC)},
		{name: "credit block key", body: `{"id":"e1","type":"credit_block.accounting_sync_failed","created_at":"2025-01-08T08:19:20Z","block":{"id":"blk_1"}}`, wantKind: "credit_block", wantID: "blk_1"},
		{name: "sales order carries invoice", body: `{"id":"e1","type":"sales_order.accounting_sync_failed","created_at":"2025-01-08T08:19:20Z","invoice":{"id":"inv_1"}}`, wantKind: "invoice", wantID: "inv_1"},
		{name: "invoice as bare id", body: `{"id":"e1","type":"invoice.cost_data_exported","created_at":"2025-01-08T08:19:20Z","invoice":"inv_2"}`, wantKind: "invoice", wantID: "inv_2"},
		{name: "metric without id", body: `{"id":"e1","type":"billable_metric.edited","created_at":"2025-01-08T08:19:20Z","billable_metric":{"name":"x"}}`, wantKind: "billable_metric"},
		{name: "snapshot", body: `{"id":"snap_1","type":"snapshot.plan","created_at":"2025-01-08T08:19:20Z","plan":{"id":"plan_1"}}`, wantKind: "plan", wantID: "plan_1"},
		{name: "reconcile marker", body: `{"id":"missing_1","type":"reconcile.missing","created_at":"2025-01-08T08:19:20Z","resource_type":"customer","customer":{"id":"cus_9"}}`, wantKind: "customer", wantID: "cus_9"},
		{name: "no resource", body: `{"id":"e1","type":"resource_event.test","created_at":"2025-01-08T08:19:20Z"}`},
		{name: "array", body: `[1,2]`, wantErr: true},
		{name: "not json", body: `id=1`, wantErr: true},
		{name: "missing id", body: `{"type":"a.b","created_at":"2025-01-08T08:19:20Z"}`, wantErr: true},
		{name: "numeric id", body: `{"id":5,"type":"a.b","created_at":"2025-01-08T08:19:20Z"}`, wantErr: true},
		{name: "empty type", body: `{"id":"e","type":"","created_at":"2025-01-08T08:19:20Z"}`, wantErr: true},
		{name: "bad created_at", body: `{"id":"e","type":"a.b","created_at":"soon"}`, wantErr: true},
		{name: "null created_at", body: `{"id":"e","type":"a.b","created_at":null}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env, err := ParseEnvelope([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrEnvelope) {
					t.Fatalf("err = %v, want ErrEnvelope", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.ResourceType != tt.wantKind || env.ResourceID != tt.wantID {
				t.Errorf("resource = %q/%q, want %q/%q", env.ResourceType, env.ResourceID, tt.wantKind, tt.wantID)
			}
			if !tt.wantCreated.IsZero() && !env.CreatedAt.Equal(tt.wantCreated) {
				t.Errorf("created_at = %v, want %v", env.CreatedAt, tt.wantCreated)
			}
		})
	}
}

// FuzzParseEnvelope checks that no input makes envelope parsing panic, and
// that the fast scanner agrees with encoding/json on valid JSON.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"id":"e1","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c"}}`))
	f.Add([]byte(`{"id":"e1","type":"invoice.cost_data_exported","created_at":"x","invoice":"i"}`))
	f.Add([]byte(`[]`))
	// Keys differing only in case are different keys to jsonb and to the
	// scanner; a struct-decoding oracle would read "ID" as "id".
	f.Add([]byte(`{"id":"e1","ID":"x","type":"customer.created","Type":"y","created_at":"2025-01-08T08:19:20Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := ParseEnvelope(body)
		if err == nil && (env.ID == "" || env.Type == "" || env.CreatedAt.IsZero()) {
			t.Fatalf("ParseEnvelope accepted an incomplete envelope: %+v", env)
		}
		// On valid JSON, the fast scanner must agree with encoding/json
		// decoding into a map: exact keys (a struct would match "ID" to
		// id), the last of duplicates winning, as in jsonb.
		var std map[string]any
		if json.Valid(body) && json.Unmarshal(body, &std) == nil && std != nil {
			id, idOK := std["id"].(string)
			typ, typOK := std["type"].(string)
			if err == nil && (id != env.ID || typ != env.Type) {
				t.Fatalf("scanner read id=%q type=%q, encoding/json id=%v type=%v", env.ID, env.Type, std["id"], std["type"])
			}
			if err != nil && idOK && typOK && id != "" && typ != "" && len(id) <= maxEnvelopeField && len(typ) <= maxEnvelopeField && !strings.Contains(err.Error(), "created_at") {
				t.Fatalf("scanner refused a valid envelope: %v", err)
			}
		}
	})
}

// TestSkipValue: the scanner's value ends, for strings whose quotes and
// backslashes are escaped in every way (a quote ends a string only after
// an even run of backslashes), and containers holding such strings and
// brackets inside strings; values are checked against encoding/json.
func TestSkipValue(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		`""`, `"a"`, `"\\"`, `"\""`, `"a\\\\"`, `"\\\""`, `"x\\\\\""`, `"\u0022"`, `"\\\\\\"`,
		`{"k\"}":"]\\","b":["\"[",{"c":"}"}]}`, `[{"a":"\\\\"},"\"]\""]`, `[ 1 , "2" , { } ]`,
		`{"a":` + strings.Repeat(` `, 100) + `"` + strings.Repeat(`\\`, 33) + `"}`,
		`-1.5e3`, `true`, `null`,
	} {
		if !json.Valid([]byte(v)) {
			t.Fatalf("test value %s is not JSON", v)
		}
		body := []byte(`[` + v + `,1]`)
		end, err := skipValue(body, 1)
		if err != nil || end != 1+len(v) {
			t.Errorf("skipValue(%s) = %d, %v; want %d", v, end, err, 1+len(v))
		}
	}
	for _, v := range []string{`"abc\"`, `"\\\"`, `{"a":"}`, `["\"]`} {
		if end, err := skipValue([]byte(v), 0); err == nil {
			t.Errorf("skipValue(%s) = %d, want an error", v, end)
		}
	}
}
