package webhook

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestReadBody: a body is read whole, into a buffer of its declared size;
// one shorter or longer than its Content-Length is an error, never a
// truncated body.
func TestReadBody(t *testing.T) {
	t.Parallel()
	const body = `{"id":"evt_1"}`
	for _, tc := range []struct {
		name          string
		contentLength int64
		wantErr       bool
	}{
		{"exact", int64(len(body)), false},
		{"unknown length", -1, false},
		{"shorter than declared", int64(len(body)) + 1, true},
		{"longer than declared", int64(len(body)) - 1, true},
	} {
		got, err := readBody(strings.NewReader(body), tc.contentLength)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s: read %q, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v; want the whole body", tc.name, got, err)
		}
		if tc.contentLength >= 0 && cap(got) != len(body) {
			t.Errorf("%s: buffer of %d bytes for a %d-byte body", tc.name, cap(got), len(body))
		}
	}
	if _, err := readBody(strings.NewReader(body), int64(len(body))+5); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: %v, want io.ErrUnexpectedEOF", err)
	}
}
