// Package orbapitest runs a fake Orb REST API over real HTTP for tests of
// code that reads Orb: package orbapi and package orbsync. Only tests may
// import it.
//
// The fake follows Orb's documented shapes: GET /v1/<resource> answers
// {"data": [...], "pagination_metadata": {"has_more", "next_cursor"}} newest
// first, GET /v1/<resource>/<id> answers the object or an RFC 7807 404, and
// every request needs "Authorization: Bearer <APIKey>". Tests add objects as
// raw JSON with Put, inject 429s, 5xxs and slow answers with Inject, cap the
// page size with SetMaxPageSize, and read what was asked with Requests.
//
// Cursors encode the last (sort key, id) served, so objects added newer than
// a cursor never shift later pages, and a cursor stored by a killed backfill
// resumes where it stopped.
package orbapitest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Server is a fake Orb API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API root to use as orbapi.Config.BaseURL, ending in /v1.
	URL string
	// APIKey is the only key the server accepts.
	APIKey string

	tb  testing.TB
	srv *httptest.Server
	mux *http.ServeMux

	mu          sync.Mutex
	objects     map[string]map[string]object // Resource name to id to object.
	faults      []Fault
	maxPageSize int
	requests    []Request
}

// Request is one request the server received.
type Request struct {
	Method string
	// Path is the URL path, e.g. "/v1/customers".
	Path string
	// Query is the decoded query, e.g. Query.Get("created_at[gte]").
	Query url.Values
	// Status is the answer's status code, or 0 while it is being served.
	Status int
}

// New starts a fake server with a random API key and closes it when the
// test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	key := make([]byte, 12)
	_, _ = rand.Read(key) // Never fails; see crypto/rand.Read.
	s := &Server{
		APIKey:  "orb_test_" + hex.EncodeToString(key),
		tb:      tb,
		mux:     http.NewServeMux(),
		objects: map[string]map[string]object{},
	}
	for name := range resources {
		s.objects[name] = map[string]object{}
	}
	s.mux.HandleFunc("GET /v1/{resource}", s.handleList)
	s.mux.HandleFunc("GET /v1/{resource}/{id}", s.handleGet)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "404-url-not-found", "The requested URL was not found.",
			"No route for "+r.Method+" "+r.URL.Path+".")
	})
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + "/v1"
	tb.Cleanup(s.srv.Close)
	return s
}

// serve logs the request, applies any injected fault, checks the key and
// routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	idx := s.logRequest(r)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.setStatus(idx, rec.status) }()

	if f, ok := s.nextFault(); ok && !f.apply(rec, r) {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.APIKey {
		writeProblem(rec, http.StatusUnauthorized, "401-authentication-error", "Authentication error",
			"The API key in the Authorization header is missing or invalid.")
		return
	}
	s.mux.ServeHTTP(rec, r)
}

// Requests returns a copy of the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// RequestCount returns how many requests have arrived so far.
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *Server) logRequest(r *http.Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()})
	return len(s.requests) - 1
}

func (s *Server) setStatus(idx, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[idx].Status = status
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}
