package eventlog

import (
	"fmt"
	"strconv"
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

// ParseSince reads a start time as every command and admin endpoint takes
// it: RFC 3339 ("2025-01-08T08:00:00Z"), a UTC date ("2025-01-08"), or an
// age before now ("36h", "7d").
func ParseSince(v string, now time.Time) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: use RFC 3339 (2025-01-08T08:00:00Z), a date (2025-01-08) or an age (36h, 7d)", v)
}
