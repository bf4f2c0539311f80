package fold

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Shape says how an event's object folds into its row.
type Shape int

const (
	// Full objects are the whole resource as the API returns it: the row
	// becomes exactly this object (keys it lacks become NULL).
	Full Shape = iota + 1
	// Partial objects carry some of the resource's keys: only the keys
	// present (less Omit, or only Allow) are merged into the row.
	Partial
	// Summary objects are Full when they carry FullKey and Partial
	// otherwise (Orb's summary webhooks drop line items and price intervals).
	Summary
)

func (s Shape) String() string {
	switch s {
	case Full:
		return "full"
	case Partial:
		return "partial"
	case Summary:
		return "summary"
	}
	return fmt.Sprintf("Shape(%d)", int(s))
}

// Entity id columns of the events table a Source may name in IDColumn.
const (
	IDResource = "resource_id"
	IDEvent    = "event_id"
)

// Source is one way a projection learns about its entities: a set of event
// types, where their object sits in the payload and what shape it has.
//
// SQL fragments are expressions over the events row, aliased e
// (e.payload, e.type, e.event_id, e.created_at). They are written by this
// package, never taken from input.
type Source struct {
	// Types are the event types read, e.g. "customer.edited".
	Types []string
	// Object is the object inside the event, e.g. e.payload -> 'customer'.
	Object string
	// IDColumn names the events column holding the entity id: IDResource
	// (the default; the id the event log extracted from the payload at
	// append time, so ranking never reads the payload) or IDEvent (one row
	// per event, for append-only tables).
	IDColumn string
	// IDKey, when set, takes the entity id from Object ->> IDKey instead of
	// IDColumn. The expression needs an index on events for late-event
	// recomputes (see the migration).
	IDKey string
	// IDSuffix, when set, makes the entity id "<id>@<suffix>": SQL over
	// {{obj}} (the object) and e, e.g. a plan's version for plan_versions.
	// Late-event recomputes find such entities by the id before the "@"
	// (IDKey's index, or resource_id).
	IDSuffix string
	// Shape of Object.
	Shape Shape
	// FullKey marks a Summary object as full when present.
	FullKey string
	// Omit lists keys never merged from a partial object.
	Omit []string
	// Allow, when set, lists the only keys merged from a partial object.
	Allow []string
	// Extra, when set, is a jsonb object merged over the shaped object
	// before it is folded (e.g. the envelope's customer id for a balance
	// transaction). It may read x.o, the object itself. A Summary source
	// merges it over its partial objects only: merging into a full object
	// rewrites the whole object (tens of KB for a subscription), so what a
	// full object implies belongs in a Derived column.
	Extra string
	// Resolve, when set, finds the entity id of an event whose object has
	// none: a SQL expression over {{obj}} (the object) and {{schema}},
	// e.g. a plan named only by its external_plan_id, looked up in plans.
	Resolve string
	// Embedded marks an object carried inside another resource's events
	// (a subscription's plan): an event without one is not about this
	// table. Otherwise an event whose entity id cannot be found is recorded
	// in dead_letters, never skipped silently.
	Embedded bool
	// Versioned marks a source whose full objects carry the projection's
	// Pin.Key: only the pinned version's objects are folded (see Pin).
	Versioned bool
	// SetsDefault marks a source whose events name a new default version
	// (Pin.DefaultValue); its events fold as the source's shape says, and
	// make their entity be recomputed.
	SetsDefault bool
	// Each, when set, fans Object out: the source's objects are the items
	// this JSON path selects in it (e.g. "$.plan.prices[*]", a plan's
	// prices), one candidate object per item, each with its own entity id
	// (IDKey, required). The source is Embedded and its objects Full. The
	// path's ids need a GIN index over jsonb_path_query_array(Object,
	// Each || ".id"), Object read from refs for a Refs source (fanIDs),
	// for late-event recomputes (see the migrations).
	Each string
	// Except, with Each, is a path over Object whose items another source
	// of the same events folds: an item whose id is among them is left to
	// that source, so an object carried twice in one event (a plan price
	// that is also a price interval's price) has one source, and its row
	// does not depend on which copy a tie picks.
	Except string
	// Refs, for an Object inside a subscription, makes ranking read it
	// from events.refs, the skeleton of the payload the log keeps for each
	// subscription event (migration 017), instead of the whole payload;
	// rows appended before refs existed are read from their payload. Only
	// for sources whose ranking reads no key refs leaves out.
	Refs bool
	// RepeatKey, for a Refs source with Each, lets the history fold find
	// an item that repeats the one before it from events.refs alone,
	// without reading the payload: refs list each item the path yields
	// with "fp", the MD5 of its text (migration 022). It is SQL over
	// {{refs}}, the Object as refs hold it, giving as jsonb whatever the shaped object
	// reads besides the item (Extra's reads: a plan price's plan id), or
	// 'null' if nothing; or NULL where refs cannot vouch for the items
	// (a part of refs copied from the payload, not built), and the payload
	// is read. Equal keys and fingerprints must mean equal shaped objects:
	// the fold skips the second.
	//
	// For an embedded Refs source without Each (a subscription's customer
	// or plan), RepeatKey is SQL over {{refs}}, the object as refs hold
	// it, giving as text a key that two of its full objects share only if
	// their shaped objects are equal: the object's fingerprint, "fp"
	// (migration 025), and whatever else the shaped object reads; or NULL
	// where refs cannot vouch for it. The history fold then skips a full
	// object whose key repeats the one before it from the same source
	// without reading the payload (see embeddedKeyed), and reads the
	// payload of the others.
	RepeatKey string
}

// Derived is a column computed when a row is written rather than taken
// from the folded object: SQL over f (entity, last_seq, last_at), r (the
// folded row), $2 (the fold's last log position) and {{events}}.
type Derived struct {
	Column string
	SQL    string
	// RowOnly says SQL reads r alone: an object equal to the one before it
	// cannot change the column, so history may skip it.
	RowOnly bool
	// RowOnlyUnless lists the event types after which SQL reads more than
	// r (the log); after any other event it reads r alone. History may
	// skip an object equal to the one before it when neither came with
	// one of these types (a customer embedded unchanged in every
	// subscription event, between two balance transactions).
	RowOnlyUnless []string
}

// Projection declares a table maintained from the log. Live batches,
// late-event recomputes and rebuilds are all generated from this one value,
// so they apply the same rule.
type Projection struct {
	// Name identifies the projection (checkpoint, dead letters, metrics);
	// it is also the default table name.
	Name string
	// Table is the table written, in the configured schema.
	Table string
	// Key is the table's primary key column, holding the entity id.
	Key string
	// Version changes whenever the definition changes in a way that needs
	// the table rebuilt from the log.
	Version int
	// Sources are read in the order given; the order does not matter for
	// the result, only the events' (created_at, seq) does.
	Sources []Source
	// Derived columns, computed from the log when a row is written.
	Derived []Derived
	// Pin, when set, makes the table show one version of each entity.
	Pin *Pin
	// History marks a derived history projection: its table holds one row
	// per version, keyed by (Key, valid_from, last_event_seq), folded by the
	// same Sources as the current table.
	History bool
}

// Pin makes a projection whose entities come in versions (a plan, which
// subscriptions embed at whatever version each is on) show one version: the
// default, named by the newest event of a SetsDefault source, when an
// object of that version has been seen; otherwise the highest version seen.
// Full objects of a Versioned source with another version are left out of
// the fold (they belong to other tables, e.g. plan_versions), so two
// subscriptions on two versions of one plan do not make the row flap.
//
// The pinned version depends only on the log up to the fold's end, so live
// batches, recomputes and rebuilds agree: the table keeps DefaultColumn and
// LatestColumn (the highest version seen) so that a batch can decide from
// the row, and an event of a SetsDefault source recomputes its entity from
// its whole history.
type Pin struct {
	// Key is the version's key in a Versioned source's object.
	Key string
	// DefaultValue is SQL over e, the event of a SetsDefault source: the
	// version it makes the default (a JSON number).
	DefaultValue string
	// DefaultColumn and LatestColumn are the table's columns for the
	// default version named and the highest version seen.
	DefaultColumn, LatestColumn string
}

// Types returns every event type the projection reads.
func (p Projection) Types() []string {
	var types []string
	seen := map[string]bool{}
	for _, s := range p.Sources {
		for _, t := range s.Types {
			if !seen[t] {
				seen[t] = true
				types = append(types, t)
			}
		}
	}
	return types
}

// Provenance columns, present on every projection table.
const (
	colLastEventID  = "last_event_id"
	colLastEventSeq = "last_event_seq"
	colLastEventAt  = "last_event_at"
)

var (
	namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	typePattern = regexp.MustCompile(`^[a-z_][a-z0-9_.]{0,254}$`)
	// pathPattern admits the JSON paths Each and Except may hold: member
	// accessors and [*] only, so a path is safe inside a string literal.
	pathPattern = regexp.MustCompile(`^\$(\.[a-z_][a-z0-9_]*(\[\*\])?)+$`)
)

// validate checks a declaration; the catalog is checked by a test, and
// invalid declarations never reach SQL generation.
func (p Projection) validate() error {
	var errs []error
	for _, n := range []string{p.Name, p.Table, p.Key} {
		if !namePattern.MatchString(n) {
			errs = append(errs, fmt.Errorf("name %q must match %s", n, namePattern))
		}
	}
	if p.Version < 1 {
		errs = append(errs, errors.New("version must be at least 1"))
	}
	if len(p.Sources) == 0 {
		errs = append(errs, errors.New("no sources"))
	}
	for i, s := range p.Sources {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("source %d: %w", i, err))
		}
	}
	if err := p.validateRepeatKeys(); err != nil {
		errs = append(errs, err)
	}
	if err := p.validatePin(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range p.Derived {
		if !namePattern.MatchString(d.Column) || d.SQL == "" {
			errs = append(errs, fmt.Errorf("derived column %q needs a name and SQL", d.Column))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("projection %s: %w", p.Name, err)
	}
	return nil
}

func (s Source) validate() error {
	var errs []error
	if len(s.Types) == 0 {
		errs = append(errs, errors.New("no event types"))
	}
	for _, t := range s.Types {
		if !typePattern.MatchString(t) {
			errs = append(errs, fmt.Errorf("event type %q must match %s", t, typePattern))
		}
	}
	if s.Object == "" {
		errs = append(errs, errors.New("no object expression"))
	}
	switch s.IDColumn {
	case "", IDResource, IDEvent:
	default:
		errs = append(errs, fmt.Errorf("IDColumn %q must be %q or %q", s.IDColumn, IDResource, IDEvent))
	}
	switch s.Shape {
	case Full:
	case Partial:
	case Summary:
		if s.FullKey == "" {
			errs = append(errs, errors.New("a summary source needs FullKey"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown shape %d", s.Shape))
	}
	if err := s.validateEach(); err != nil {
		errs = append(errs, err)
	}
	if s.Refs && !strings.HasPrefix(s.Object, refsObject) {
		errs = append(errs, fmt.Errorf("Refs needs an Object inside %s", refsObject))
	}
	if len(s.Omit) > 0 && len(s.Allow) > 0 {
		errs = append(errs, errors.New("set Omit or Allow, not both"))
	}
	for _, k := range append(append([]string{s.IDKey, s.FullKey}, s.Omit...), s.Allow...) {
		if k != "" && !namePattern.MatchString(k) {
			errs = append(errs, fmt.Errorf("key %q must match %s", k, namePattern))
		}
	}
	return errors.Join(errs...)
}

// validateEach checks a source that fans its object out.
func (s Source) validateEach() error {
	switch {
	case s.Each == "":
		if s.Except != "" {
			return errors.New("Except needs Each")
		}
		return s.validateRepeatKey()
	case !pathPattern.MatchString(s.Each) || (s.Except != "" && !pathPattern.MatchString(s.Except)):
		return fmt.Errorf("paths %q, %q must match %s", s.Each, s.Except, pathPattern)
	case s.IDKey != "id" || !s.Embedded || s.Shape != Full:
		return errors.New("a source with Each needs IDKey \"id\", Embedded and Shape Full")
	case s.Resolve != "" || s.IDSuffix != "" || s.Versioned || s.SetsDefault || s.IDColumn != "":
		return errors.New("a source with Each takes no Resolve, IDSuffix, Versioned, SetsDefault or IDColumn")
	case s.RepeatKey != "" && !s.Refs:
		return errors.New("RepeatKey needs Refs")
	}
	return nil
}

// validateRepeatKeys refuses a projection with both an embedded source
// keyed without Each and a source with Each: the history fold reads one
// way or the other (embeddedKeyed, fanned).
func (p Projection) validateRepeatKeys() error {
	var each, keyed bool
	for _, s := range p.Sources {
		each = each || s.Each != ""
		keyed = keyed || (s.Each == "" && s.RepeatKey != "")
	}
	if each && keyed {
		return errors.New("a RepeatKey without Each in a projection with a source with Each")
	}
	return nil
}

// validateRepeatKey checks a RepeatKey without Each: the key stands for
// the shaped full object, so that object must be the embedded object
// itself, read from refs: no Extra, suffix, resolution or default.
func (s Source) validateRepeatKey() error {
	switch {
	case s.RepeatKey == "":
		return nil
	case !s.Refs || !s.Embedded || s.IDKey != "id" || (s.Shape != Full && s.Shape != Summary):
		return errors.New("a RepeatKey without Each needs Refs, Embedded, IDKey \"id\" and Shape Full or Summary")
	case s.Extra != "" || s.IDSuffix != "" || s.Resolve != "" || s.SetsDefault || s.IDColumn != "":
		return errors.New("a RepeatKey without Each takes no Extra, IDSuffix, Resolve, SetsDefault or IDColumn")
	}
	return nil
}

func (p Projection) validatePin() error {
	versioned := false
	for _, s := range p.Sources {
		versioned = versioned || s.Versioned || s.SetsDefault
	}
	if p.Pin == nil {
		if versioned {
			return errors.New("a Versioned or SetsDefault source needs Pin")
		}
		return nil
	}
	for _, n := range []string{p.Pin.Key, p.Pin.DefaultColumn, p.Pin.LatestColumn} {
		if !namePattern.MatchString(n) {
			return fmt.Errorf("pin name %q must match %s", n, namePattern)
		}
	}
	if p.Pin.DefaultValue == "" {
		return errors.New("pin needs DefaultValue")
	}
	return nil
}
