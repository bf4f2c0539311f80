package orbapitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
)

const (
	limitDefault = 20  // Orb's default page size.
	limitMax     = 100 // Orb's documented maximum.
)

// listResponse is the body of a list answer.
type listResponse struct {
	Data               []json.RawMessage `json:"data"`
	PaginationMetadata struct {
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	} `json:"pagination_metadata"`
}

// handleList serves GET /v1/{resource}.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("resource")
	res, ok := resources[name]
	if !ok {
		writeProblem(w, http.StatusNotFound, "404-url-not-found", "The requested URL was not found.",
			"No route for GET "+r.URL.Path+".")
		return
	}
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"))
	if err != nil {
		writeValidation(w, err.Error())
		return
	}
	if pageCap := s.pageSizeCap(); pageCap > 0 && limit > pageCap {
		writeProblem(w, http.StatusBadRequest, "400-request-validation-error", "Request validation error",
			fmt.Sprintf("Failed to serve a page of %d; try a smaller limit.", limit))
		return
	}
	after, err := decodeCursor(q.Get("cursor"))
	if err != nil {
		writeValidation(w, err.Error())
		return
	}
	match, err := newFilter(name, res, q)
	if err != nil {
		writeValidation(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.page(name, match, after, limit))
}

// page selects up to limit matching objects that sort after the cursor.
func (s *Server) page(name string, match func(object) bool, after *cursor, limit int) listResponse {
	s.mu.Lock()
	var objs []object
	for _, o := range s.objects[name] {
		if match(o) && (after == nil || after.before(o)) {
			objs = append(objs, o)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(objs, compareNewestFirst)

	resp := listResponse{Data: []json.RawMessage{}}
	for i, o := range objs {
		if i == limit {
			next := encodeCursor(objs[i-1])
			resp.PaginationMetadata.HasMore = true
			resp.PaginationMetadata.NextCursor = &next
			break
		}
		resp.Data = append(resp.Data, o.raw)
	}
	return resp
}

// handleGet serves GET /v1/{resource}/{id}.
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("resource"), r.PathValue("id")
	res, ok := resources[name]
	if !ok {
		writeProblem(w, http.StatusNotFound, "404-url-not-found", "The requested URL was not found.",
			"No route for GET "+r.URL.Path+".")
		return
	}
	s.mu.Lock()
	o, ok := s.objects[name][id]
	s.mu.Unlock()
	if !ok {
		writeProblem(w, http.StatusNotFound, "404-resource-not-found", "A specified resource was not found.",
			fmt.Sprintf("Could not find a resource of type %s with identifier: %s.", res.typeName, id))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(o.raw)
}

func (s *Server) pageSizeCap() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxPageSize
}

// parseLimit checks limit against Orb's documented range.
func parseLimit(v string) (int, error) {
	if v == "" {
		return limitDefault, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > limitMax {
		return 0, fmt.Errorf("limit: must be an integer between 1 and %d, got %q", limitMax, v)
	}
	return n, nil
}
