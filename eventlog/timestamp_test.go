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
