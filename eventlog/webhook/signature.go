package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Orb's signing headers (FACTS.md §1).
const (
	HeaderSignature = "X-Orb-Signature"
	HeaderTimestamp = "X-Orb-Timestamp"
)

// DefaultTolerance is how far X-Orb-Timestamp may be from now, either way.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is wrapped by every verification failure, so the receiver can
// answer 401 without inspecting messages.
var ErrSignature = errors.New("webhook signature rejected")

// Verify checks a delivery exactly as Orb signs it: HMAC-SHA256 over
// "v1:" + the timestamp header as received + ":" + the raw body, keyed with
// the secret's UTF-8 bytes, hex encoded. The signature header may carry
// several space-separated "v1=<hex>" entries; any entry may match any secret
// (several secrets allow rotation). Timestamps further than tolerance from now
// are refused in both directions, to bound replays.
func Verify(header http.Header, body []byte, secrets []string, tolerance time.Duration, now time.Time) error {
	timestamp := header.Get(HeaderTimestamp)
	if timestamp == "" {
		return fmt.Errorf("%w: missing %s header", ErrSignature, HeaderTimestamp)
	}
	signatures := header.Values(HeaderSignature)
	if len(signatures) == 0 {
		return fmt.Errorf("%w: missing %s header", ErrSignature, HeaderSignature)
	}
	sent, err := eventlog.ParseTimestamp(timestamp)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrSignature, HeaderTimestamp, err)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if age := now.Sub(sent); age > tolerance {
		return fmt.Errorf("%w: timestamp too old (%s beyond the %s tolerance)", ErrSignature, (age - tolerance).Round(time.Second), tolerance)
	} else if -age > tolerance {
		return fmt.Errorf("%w: timestamp too new (%s beyond the %s tolerance)", ErrSignature, (-age - tolerance).Round(time.Second), tolerance)
	}
	if !eventlog.SignatureMatches(timestamp, strings.Join(signatures, " "), body, secrets) {
		return fmt.Errorf("%w: no signature matches", ErrSignature)
	}
	return nil
}

// FormatTimestamp formats t the way Orb does in X-Orb-Timestamp.
func FormatTimestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000")
}
