package orbapi

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	c := Config{APIKey: "k"}.WithDefaults()
	if c.BaseURL != "https://api.withorb.com/v1" || c.RateLimit != 20 || c.Timeout != 30*time.Second ||
		c.MaxRetries != 5 || c.PageSize != 100 || c.HTTPClient == nil || c.Logger == nil {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if got := (Config{MaxRetries: -3}).WithDefaults().MaxRetries; got != 0 {
		t.Fatalf("negative MaxRetries became %d, want 0", got)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{APIKey: "k"}, ""},
		{"no key", Config{}, "APIKey is required"},
		{"relative URL", Config{APIKey: "k", BaseURL: "api.withorb.com/v1"}, "BaseURL"},
		{"ftp URL", Config{APIKey: "k", BaseURL: "ftp://api.withorb.com/v1"}, "BaseURL"},
		{"page too big", Config{APIKey: "k", PageSize: 101}, "PageSize must be between 1 and 100"},
		{"page negative", Config{APIKey: "k", PageSize: -1}, "PageSize"},
		{"negative timeout", Config{APIKey: "k", Timeout: -time.Second}, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestSetTime(t *testing.T) {
	t.Parallel()
	q := query()
	SetTime(q, "created_at", LT, time.Date(2025, 1, 8, 9, 19, 20, 763280000, time.FixedZone("", 3600)))
	if got := q.Get("created_at[lt]"); got != "2025-01-08T08:19:20.76328Z" {
		t.Fatalf("got %q", got)
	}
}
