package webhook

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// vector is Orb's SDK test vector (testdata/signature-test-vector.json).
type vector struct {
	Secret    string            `json:"secret"`
	Body      string            `json:"body"`
	Headers   map[string]string `json:"headers"`
	HMAC      string            `json:"hmac_sha256_hex"`
	FakeNow   time.Time         `json:"sdk_fake_now"`
	Tolerance int               `json:"tolerance_seconds"`
	Expect    struct {
		MultipleSigs string `json:"multiple_sigs_one_valid_passes"`
		V2Prefix     string `json:"v2_prefix_ignored_fails"`
		BareHex      string `json:"bare_hex_without_prefix_fails"`
	} `json:"expect"`
}

func loadVector(t *testing.T) vector {
	t.Helper()
	raw, err := os.ReadFile("testdata/signature-test-vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/webhook.resource_event.test.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != v.Body {
		t.Fatal("testdata body file differs from the vector's body")
	}
	return v
}

func TestSignMatchesOrbVector(t *testing.T) {
	t.Parallel()
	v := loadVector(t)
	if got := eventlog.Sign(v.Secret, v.Headers[HeaderTimestamp], []byte(v.Body)); got != v.HMAC {
		t.Fatalf("Sign = %s, want %s", got, v.HMAC)
	}
}

func TestVerifyOrbVector(t *testing.T) {
	t.Parallel()
	v := loadVector(t)
	tolerance := time.Duration(v.Tolerance) * time.Second
	header := func(sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, v.Headers[HeaderTimestamp])
		if sig != "" {
			h.Set(HeaderSignature, sig)
		}
		return h
	}
	good := v.Headers[HeaderSignature]
	tests := []struct {
		name    string
		header  http.Header
		secrets []string
		now     time.Time
		ok      bool
	}{
		{"valid at fake now", header(good), []string{v.Secret}, v.FakeNow, true},
		{"too old", header(good), []string{v.Secret}, v.FakeNow.Add(6 * time.Minute), false},
		{"too new", header(good), []string{v.Secret}, v.FakeNow.Add(-6 * time.Minute), false},
		{"just within tolerance", header(good), []string{v.Secret}, v.FakeNow.Add(4*time.Minute + 59*time.Second), true},
		{"wrong secret", header(good), []string{"foo"}, v.FakeNow, false},
		{"second of two secrets", header(good), []string{"old-secret", v.Secret}, v.FakeNow, true},
		{"several signatures, one valid", header(v.Expect.MultipleSigs), []string{v.Secret}, v.FakeNow, true},
		{"v2 prefix ignored", header(v.Expect.V2Prefix), []string{v.Secret}, v.FakeNow, false},
		{"bare hex without prefix", header(v.Expect.BareHex), []string{v.Secret}, v.FakeNow, false},
		{"uppercase hex", header("v1=" + upper(v.HMAC)), []string{v.Secret}, v.FakeNow, true},
		{"missing signature", header(""), []string{v.Secret}, v.FakeNow, false},
		{"missing timestamp", http.Header{HeaderSignature: {good}}, []string{v.Secret}, v.FakeNow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(tt.header, []byte(v.Body), tt.secrets, tolerance, tt.now)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("Verify = %v, want ErrSignature", err)
			}
		})
	}
}

func TestVerifyBodyTampered(t *testing.T) {
	t.Parallel()
	v := loadVector(t)
	h := http.Header{}
	for k, val := range v.Headers {
		h.Set(k, val)
	}
	body := []byte(v.Body)
	body[len(body)-3] = 'X'
	if err := Verify(h, body, []string{v.Secret}, 0, v.FakeNow); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify of a tampered body = %v, want ErrSignature", err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
