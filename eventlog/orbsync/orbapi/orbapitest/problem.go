package orbapitest

import (
	"encoding/json"
	"net/http"
)

// problemTypeBase prefixes the type URI of Orb's RFC 7807 errors.
const problemTypeBase = "https://docs.withorb.com/reference/error-responses#"

// problem is an RFC 7807 body as Orb sends it.
type problem struct {
	Type             string   `json:"type"`
	Title            string   `json:"title"`
	Status           int      `json:"status"`
	Detail           string   `json:"detail,omitempty"`
	ValidationErrors []string `json:"validation_errors,omitempty"`
}

// writeProblem answers with an RFC 7807 body; anchor is the part of the type
// URI after '#', e.g. "404-resource-not-found".
func writeProblem(w http.ResponseWriter, status int, anchor, title, detail string) {
	writeJSON(w, status, problem{Type: problemTypeBase + anchor, Title: title, Status: status, Detail: detail})
}

// writeValidation answers 400 with validation_errors, as Orb does for bad
// query parameters.
func writeValidation(w http.ResponseWriter, errs ...string) {
	writeJSON(w, http.StatusBadRequest, problem{
		Type:             problemTypeBase + "400-request-validation-error",
		Title:            "Request validation error",
		Status:           http.StatusBadRequest,
		ValidationErrors: errs,
	})
}

// writeJSON answers with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // The client may be gone; nothing to do.
}
