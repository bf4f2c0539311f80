package orbapitest

import (
	"net/http"
	"strconv"
	"time"
)

// Fault changes how the server answers one request.
type Fault struct {
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// Status, if not zero, answers with this status and an RFC 7807 body
	// instead of serving the request.
	Status int
	// RetryAfter, if not empty, is sent as the Retry-After header, e.g.
	// "1" (seconds) or an HTTP date.
	RetryAfter string
	// Header holds more response headers, e.g. Retry-After-Ms or
	// X-Should-Retry.
	Header http.Header
}

// Inject makes the next n requests, whatever their path, answer with f.
// Faults queue up behind ones injected earlier.
func (s *Server) Inject(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// SetMaxPageSize makes list requests with a limit above n answer 400, as Orb
// has been seen to fail on large pages. Zero removes the cap.
func (s *Server) SetMaxPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxPageSize = n
}

func (s *Server) nextFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true
}

// apply waits and writes the fault's answer. It reports whether the request
// should still be served normally.
func (f Fault) apply(w http.ResponseWriter, r *http.Request) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	if f.Status == 0 {
		return true
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	switch {
	case f.Status == http.StatusTooManyRequests:
		writeProblem(w, f.Status, "429-too-many-requests", "Too many requests",
			"Rate limit exceeded; retry with exponential backoff.")
	case f.Status == http.StatusInternalServerError:
		writeProblem(w, f.Status, "500-internal-server-error", "Internal server error", "Injected server error.")
	default:
		writeProblem(w, f.Status, strconv.Itoa(f.Status), http.StatusText(f.Status), "Injected error.")
	}
	return false
}
