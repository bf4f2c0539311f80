package eventlog

import (
	"fmt"
	"strings"
	"time"
)

// timestampLayouts are tried in order. Orb sends a zone-less local time that
// means UTC ("2024-03-27T15:42:29.551"); a zone is accepted too, in case Orb
// ever adds one.
var timestampLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999-0700",
	"2006-01-02 15:04:05.999999999",
}

// ParseTimestamp parses an X-Orb-Timestamp value; no zone means UTC.
func ParseTimestamp(value string) (time.Time, error) {
	value = strings.TrimSpace(value)
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, value); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unparseable timestamp %q", value)
}
