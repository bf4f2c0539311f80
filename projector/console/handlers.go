package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector"
)

// maxQuery bounds a search query; ids, emails and numbers are far shorter.
const maxQuery = 320

func (c *Console) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := struct {
		Query  string
		Groups []HitGroup
		Kinds  []Kind
	}{Query: q, Kinds: kinds}
	title := "Search"
	if q != "" {
		if len(q) > maxQuery {
			c.renderError(w, r, http.StatusBadRequest, fmt.Sprintf("The search is longer than %d characters.", maxQuery))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		var err error
		if data.Groups, err = c.store.search(ctx, q); err != nil {
			c.failed(w, r, err)
			return
		}
		title = "Search: " + q
	}
	c.render(w, http.StatusOK, "search", page{Title: title, Query: q, Data: data})
}

// entityPage is the data of an entity page.
type entityPage struct {
	Kind  Kind
	ID    string
	AsOf  time.Time
	Input string // the as-of field's value
	// Exists is false when neither the table nor the log (up to AsOf)
	// knows the entity.
	Exists   bool
	Fields   []shownField
	Related  []Related
	Timeline Timeline
}

// EmptyFields names the null fields (that have not changed since), listed
// on one line to keep the row short.
func (p entityPage) EmptyFields() []string {
	var names []string
	for _, f := range p.Fields {
		if f.Value.IsNull() && !f.Differs {
			names = append(names, f.Name)
		}
	}
	return names
}

// shownField is a row's field; Now is the current value when the page
// shows an earlier state and the value has changed since.
type shownField struct {
	Name    string
	Value   Value
	Differs bool
	Now     Value
}

func (c *Console) handleEntity(w http.ResponseWriter, r *http.Request) {
	k, ok := kindNamed(r.PathValue("kind"))
	if !ok {
		c.renderError(w, r, http.StatusNotFound, "No such page.")
		return
	}
	p := entityPage{Kind: k, ID: r.PathValue("id")}
	var err error
	if p.AsOf, err = parseAsOf(r.URL.Query().Get("as_of")); err != nil {
		c.renderError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !p.AsOf.IsZero() {
		p.Input = p.AsOf.UTC().Format("2006-01-02T15:04:05")
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	if err := c.loadEntity(ctx, &p); err != nil {
		c.failed(w, r, err)
		return
	}
	status := http.StatusOK
	if !p.Exists {
		status = http.StatusNotFound
	}
	title := k.Title[:len(k.Title)-1] + " " + p.ID
	c.render(w, status, "entity", page{Title: title, Data: p})
}

func (c *Console) loadEntity(ctx context.Context, p *entityPage) error {
	row, columns, err := c.store.currentRow(ctx, p.Kind, p.ID)
	if err != nil {
		return err
	}
	if p.Timeline, err = c.history.Timeline(ctx, p.Kind.Name, p.ID, p.AsOf); err != nil {
		return err
	}
	var asOf *time.Time
	if !p.AsOf.IsZero() {
		asOf = &p.AsOf
	}
	if p.Related, err = c.store.related(ctx, p.Kind.Name, p.ID, asOf); err != nil {
		return err
	}
	if asOf == nil {
		p.Exists = row != nil
		for _, f := range row {
			p.Fields = append(p.Fields, shownField{Name: f.Name, Value: f.Value})
		}
		return nil
	}
	p.Exists = p.Timeline.State != nil
	p.Fields = stateFields(p.Timeline, columns, row)
	return nil
}

// stateFields lays an as-of state out like the table (its columns, in
// order), with the provenance of the newest event, marking what differs
// from the current row.
func stateFields(t Timeline, columns []string, current []Field) []shownField {
	if t.State == nil {
		return nil
	}
	now := map[string]Value{}
	for _, f := range current {
		now[f.Name] = f.Value
	}
	state := t.State
	if _, known := state["last_event_id"]; !known && len(t.Events) > 0 {
		newest := t.Events[0]
		state = copyState(state)
		state["last_event_id"] = jsonValue(newest.EventID)
		state["last_event_seq"] = jsonValue(newest.Seq)
		state["last_event_at"] = jsonValue(newest.CreatedAt)
	}
	var out []shownField
	for _, col := range columns {
		v, ok := state[col]
		if !ok && now[col] == nil {
			continue // a generated column (e.g. customer_id) or unknown then
		}
		f := shownField{Name: col, Value: v, Now: now[col]}
		f.Differs = current != nil && !sameValue(v, now[col])
		out = append(out, f)
	}
	return out
}

func copyState(m map[string]Value) map[string]Value {
	out := make(map[string]Value, len(m)+3)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func jsonValue(v any) Value {
	b, _ := json.Marshal(v)
	return Value(b)
}

// sameValue compares a value from a payload with one from the table, which
// prints numbers and times its own way; text comparison is good enough to
// mark differences, never to decide anything.
func sameValue(a, b Value) bool {
	if a.IsNull() || b.IsNull() {
		return a.IsNull() == b.IsNull()
	}
	if a.Text() == b.Text() {
		return true
	}
	ta, errA := time.Parse(time.RFC3339Nano, a.Text())
	tb, errB := time.Parse(time.RFC3339Nano, b.Text())
	if errA == nil && errB == nil {
		return ta.Equal(tb)
	}
	fa, errA := strconv.ParseFloat(a.Text(), 64)
	fb, errB := strconv.ParseFloat(b.Text(), 64)
	if errA == nil && errB == nil {
		return fa == fb
	}
	var ja, jb any
	return json.Unmarshal(a, &ja) == nil && json.Unmarshal(b, &jb) == nil && fmt.Sprint(ja) == fmt.Sprint(jb)
}

// asOfLayouts are accepted for ?as_of=, all UTC unless they carry a zone:
// the date picker's value (with or without seconds), RFC 3339, or a date,
// which means the end of that day.
var asOfLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05"}

func parseAsOf(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range asOfLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	if d, err := time.Parse("2006-01-02", v); err == nil {
		return d.Add(24*time.Hour - time.Microsecond), nil
	}
	return time.Time{}, fmt.Errorf("as_of %q is not a time: use 2025-03-01T12:00:00 (UTC), RFC 3339, or a date", v)
}

// eventPage is the raw event with its signature check.
type eventPage struct {
	Event RawEvent
	// Kind is set when the event's resource has an entity page.
	Kind string
	// Signature: "verified", "mismatch" (signed, but no configured secret
	// matches), "unsigned" (snapshots, recovered events).
	Signature string
	Body      string
	Truncated bool
}

// maxShownBody bounds the body a page shows; larger bodies are cut.
const maxShownBody = 2 << 20

func (c *Console) handleEvent(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	ev, err := c.store.event(ctx, r.PathValue("id"))
	if errors.Is(err, errNotFound) {
		c.renderError(w, r, http.StatusNotFound, "No event with this id is in the log.")
		return
	}
	if err != nil {
		c.failed(w, r, err)
		return
	}
	p := eventPage{Event: ev, Signature: "unsigned"}
	if _, ok := kindNamed(ev.ResourceType); ok && ev.ResourceID != "" {
		p.Kind = ev.ResourceType
	}
	if ev.OrbSignature != "" {
		p.Signature = "mismatch"
		if eventlog.SignatureMatches(ev.OrbTimestamp, ev.OrbSignature, ev.Body, c.cfg.Secrets) {
			p.Signature = "verified"
		}
	}
	p.Body = prettyBody(ev.Body)
	if len(p.Body) > maxShownBody {
		p.Body, p.Truncated = p.Body[:maxShownBody], true
	}
	c.render(w, http.StatusOK, "event", page{Title: "Event " + ev.EventID, Data: p})
}

// prettyBody indents a JSON body without touching its strings (escapes
// and all); anything else is shown as received.
func prettyBody(body []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, body, "", "  ") != nil {
		return string(body)
	}
	return b.String()
}

// pipelinePage is the pipeline with the retry form's needs.
type pipelinePage struct {
	Pipeline
	CSRF        string
	Projections []string
	Flash       string
	Now         time.Time
}

func (c *Console) handlePipeline(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	pl, err := c.store.pipeline(ctx)
	if err != nil {
		c.failed(w, r, err)
		return
	}
	if c.cfg.Jobs != nil {
		pl.Jobs = c.cfg.Jobs()
	}
	pl.Webhooks = c.rates.rates()
	p := pipelinePage{Pipeline: pl, CSRF: c.csrf, Now: time.Now()}
	for _, proj := range projector.Projections() {
		p.Projections = append(p.Projections, proj.Name)
	}
	if q := r.URL.Query(); q.Has("resolved") {
		p.Flash = fmt.Sprintf("Retried dead letters%s: %s resolved, %s still failing.",
			projectionSuffix(q.Get("projection")), q.Get("resolved"), q.Get("failed"))
	}
	c.render(w, http.StatusOK, "pipeline", page{Title: "Pipeline", Refresh: 5, Data: p})
}

func projectionSuffix(name string) string {
	if name == "" {
		return ""
	}
	return " of " + name
}

// handleRetry retries unresolved dead letters (of one projection, or all),
// then sends the browser back to the pipeline page with the outcome.
func (c *Console) handleRetry(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		c.renderError(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if !c.validCSRF(r) {
		c.renderError(w, r, http.StatusForbidden, "The form's token is missing or wrong, or it came from another site; reload the pipeline page and try again.")
		return
	}
	projection := r.PostFormValue("projection")
	if projection != "" && !slices.ContainsFunc(projector.Projections(), func(p projector.Projection) bool { return p.Name == projection }) {
		c.renderError(w, r, http.StatusBadRequest, "No such projection.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	res, err := projector.RetryDeadLetters(ctx, c.cfg.Pool, c.cfg.Schema, projection)
	if err != nil {
		c.failed(w, r, err)
		return
	}
	c.cfg.Logger.Info("console: dead letters retried", "projection", projection, "resolved", len(res.Resolved), "failed", len(res.Failed))
	q := url.Values{"resolved": {strconv.Itoa(len(res.Resolved))}, "failed": {strconv.Itoa(len(res.Failed))}}
	if projection != "" {
		q.Set("projection", projection)
	}
	http.Redirect(w, r, Prefix+"pipeline?"+q.Encode(), http.StatusSeeOther)
}
