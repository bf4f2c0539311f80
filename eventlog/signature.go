package eventlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
)

// SignatureMatches checks Orb's webhook signature without regard to its age:
// HMAC-SHA256 over "v1:" + timestamp + ":" + body, keyed with the secret's
// UTF-8 bytes, hex encoded. signature may carry several space-separated
// "v1=<hex>" entries; any entry may match any secret (rotation).
//
// It belongs to the log rather than to the webhook source because the log
// keeps every delivery's body, orb_timestamp and orb_signature exactly as
// received: a reader holding the secret can check, long after the delivery,
// that a row is what Orb sent. The webhook receiver uses it too, after
// checking the timestamp's age.
func SignatureMatches(timestamp, signature string, body []byte, secrets []string) bool {
	matched := 0
	for _, secret := range secrets {
		expected := Sign(secret, timestamp, body)
		for _, token := range strings.Fields(signature) {
			version, sig, ok := strings.Cut(token, "=")
			if !ok || version != "v1" {
				continue
			}
			// Compare every candidate rather than returning on the first
			// match, so timing says nothing about which entry matched.
			matched |= subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(expected))
		}
	}
	return matched == 1
}

// Sign returns the lowercase hex v1 signature Orb would send for body.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v1:"))
	mac.Write([]byte(timestamp))
	mac.Write([]byte(":"))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}
