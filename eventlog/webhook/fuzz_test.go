package webhook

import (
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// FuzzVerify checks that no input makes verification panic, and that
// verification never accepts a body it didn't sign.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"id":"e1","type":"customer.created","created_at":"2025-01-08T08:19:20Z","customer":{"id":"c"}}`), "2024-03-27T15:42:29.551", "v1=00")
	f.Add([]byte(`{"id":"e1","type":"invoice.cost_data_exported","created_at":"x","invoice":"i"}`), "2024-03-27T15:42:29Z", "v1=a v1=b v2=c")
	f.Add([]byte(`[]`), "", "")
	now := time.Date(2024, 3, 27, 15, 42, 29, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, timestamp, signature string) {
		h := map[string][]string{HeaderTimestamp: {timestamp}, HeaderSignature: {signature}}
		if Verify(h, body, []string{"secret"}, time.Hour, now) == nil {
			// Only a correct HMAC may pass; the fuzzer cannot forge one.
			if !eventlog.SignatureMatches(timestamp, "v1="+eventlog.Sign("secret", timestamp, body), body, []string{"secret"}) {
				t.Fatal("accepted a signature that does not verify")
			}
			t.Fatalf("fuzzer forged a signature: %q", signature)
		}
	})
}
