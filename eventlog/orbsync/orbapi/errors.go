package orbapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

var (
	// ErrUnauthorized matches an *APIError with status 401 or 403: Orb did
	// not accept the API key for this request.
	ErrUnauthorized = errors.New("orb api rejected the API key")

	// ErrNotFound matches an *APIError with status 404.
	ErrNotFound = errors.New("orb api resource not found")
)

// APIError is a non-2xx answer from Orb. The fields come from the RFC 7807
// body ({type, title, status, detail}) when Orb sent one.
type APIError struct {
	// Status is the HTTP status code of the response.
	Status int
	// Type is the URI naming the kind of error, e.g.
	// "https://docs.withorb.com/reference/error-responses#404-resource-not-found".
	Type string
	// Title is a short summary of the kind of error.
	Title string
	// Detail explains this occurrence.
	Detail string
	// ValidationErrors is the validation_errors member of a 400 answer,
	// as sent, or nil.
	ValidationErrors json.RawMessage
}

// problem is the RFC 7807 body Orb sends with errors.
type problem struct {
	Type             string          `json:"type"`
	Title            string          `json:"title"`
	Status           int             `json:"status"`
	Detail           string          `json:"detail"`
	ValidationErrors json.RawMessage `json:"validation_errors"`
}

// newAPIError builds an APIError from a response. Text that contains the API
// key is redacted, so the error is always safe to log.
func newAPIError(status int, body []byte, apiKey string) *APIError {
	var p problem
	_ = json.Unmarshal(body, &p) // A body that is not RFC 7807 leaves the fields empty.
	redact := func(s string) string { return strings.ReplaceAll(s, apiKey, "[redacted]") }
	e := &APIError{
		Status: status,
		Type:   redact(p.Type),
		Title:  redact(p.Title),
		Detail: redact(p.Detail),
	}
	if len(p.ValidationErrors) > 0 && string(p.ValidationErrors) != "null" {
		e.ValidationErrors = json.RawMessage(redact(string(p.ValidationErrors)))
	}
	return e
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		fmt.Fprintf(&b, "%s (%d): check ORB_API_KEY", ErrUnauthorized, e.Status)
	} else {
		fmt.Fprintf(&b, "orb api answered %d", e.Status)
	}
	title := e.Title
	if title == "" {
		title = http.StatusText(e.Status)
	}
	if title != "" {
		fmt.Fprintf(&b, ": %s", title)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if len(e.ValidationErrors) > 0 {
		fmt.Fprintf(&b, ": validation errors %s", e.ValidationErrors)
	}
	return b.String()
}

// Is makes errors.Is match ErrUnauthorized and ErrNotFound by status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	}
	return false
}
