package orbapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAPIError(t *testing.T) {
	t.Parallel()
	const key = "orb_live_secret"
	tests := []struct {
		name         string
		status       int
		body         string
		want         string
		unauthorized bool
		notFound     bool
	}{
		{
			name:     "not found",
			status:   404,
			body:     `{"type":"https://docs.withorb.com/reference/error-responses#404-resource-not-found","title":"A specified resource was not found.","status":404,"detail":"Could not find a resource of type Plan with identifier: X."}`,
			want:     "orb api answered 404: A specified resource was not found.: Could not find a resource of type Plan with identifier: X.",
			notFound: true,
		},
		{
			name:         "unauthorized",
			status:       401,
			body:         `{"type":"t","title":"Authentication error","status":401}`,
			want:         "orb api rejected the API key (401): check ORB_API_KEY: Authentication error",
			unauthorized: true,
		},
		{
			name:         "forbidden",
			status:       403,
			body:         ``,
			want:         "orb api rejected the API key (403): check ORB_API_KEY: Forbidden",
			unauthorized: true,
		},
		{
			name:   "validation",
			status: 400,
			body:   `{"type":"t","title":"Request validation error","status":400,"validation_errors":["limit: too big"]}`,
			want:   `orb api answered 400: Request validation error: validation errors ["limit: too big"]`,
		},
		{
			name:   "not json",
			status: 502,
			body:   `<html>bad gateway</html>`,
			want:   "orb api answered 502: Bad Gateway",
		},
		{
			name:   "key echoed back is redacted",
			status: 400,
			body:   `{"title":"Bad key orb_live_secret","detail":"key=orb_live_secret","validation_errors":["orb_live_secret"]}`,
			want:   `orb api answered 400: Bad key [redacted]: key=[redacted]: validation errors ["[redacted]"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("listing plans: %w", newAPIError(tt.status, []byte(tt.body), key))
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Error() != tt.want {
				t.Fatalf("got %q, want %q", apiErr, tt.want)
			}
			if strings.Contains(err.Error(), key) {
				t.Fatal("key in error text")
			}
			if got := errors.Is(err, ErrUnauthorized); got != tt.unauthorized {
				t.Errorf("errors.Is(ErrUnauthorized) = %v", got)
			}
			if got := errors.Is(err, ErrNotFound); got != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v", got)
			}
		})
	}
}
