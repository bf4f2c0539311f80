package eventlog

import (
	"testing"
	"time"
)

func TestParseTimestampLenient(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 3, 27, 15, 42, 29, 551e6, time.UTC)
	for _, in := range []string{
		"2024-03-27T15:42:29.551",
		"2024-03-27T15:42:29.551Z",
		"2024-03-27T15:42:29.551+00:00",
		"2024-03-27T17:42:29.551+02:00",
		"2024-03-27T15:42:29.551000",
	} {
		got, err := ParseTimestamp(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseTimestamp("yesterday"); err == nil {
		t.Error("ParseTimestamp(yesterday) succeeded")
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2025-01-08T08:00:00Z":      time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC),
		"2025-01-08T09:00:00+01:00": time.Date(2025, 1, 8, 8, 0, 0, 0, time.UTC),
		"2025-01-08":                time.Date(2025, 1, 8, 0, 0, 0, 0, time.UTC),
		"36h":                       now.Add(-36 * time.Hour),
		"7d":                        now.AddDate(0, 0, -7),
	} {
		if got, err := ParseSince(in, now); err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5h", "0d", "2025-13-01"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}
