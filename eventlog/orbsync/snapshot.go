package orbsync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Origins say why an object was read; a snapshot carries its origin in
// properties.origin.
const (
	OriginBackfill  = "backfill"
	OriginReconcile = "reconcile"
	OriginRefetch   = "refetch"
)

// snapshotTimeLayout writes a snapshot's created_at: RFC 3339 in UTC with
// microseconds, the precision timestamptz keeps, so the stored order key
// and the body agree exactly.
const snapshotTimeLayout = "2006-01-02T15:04:05.000000Z"

// snapshotIDPrefix starts every snapshot event id.
const snapshotIDPrefix = "snap_"

var errNoObjectID = errors.New(`object has no string "id"`)

// contentKey names an object's state: the first 128 bits of
// sha256(resource, NUL, object bytes), in hex. Orb sends the same bytes for
// the same state, so an unchanged object has an unchanged key.
func contentKey(resource string, obj []byte) string {
	h := sha256.New()
	h.Write([]byte(resource))
	h.Write([]byte{0})
	h.Write(obj)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// snapshotID is the event id of a snapshot with content key content, read
// when the object's newest event in the log was base ("" for none):
//
//	snap_<content key>_<8 hex of sha256(content key, base)>
//
// It is deterministic, so two readers that see the same state after the same
// event store it once. The base part is what lets a state come back: a
// customer whose balance goes 10 → 20 → 10 gets a new snapshot for the
// second 10, where an id from the content alone would drop it as a
// duplicate of the first and leave the projection at 20.
func snapshotID(content, base string) string {
	h := sha256.Sum256([]byte(content + "\x00" + base))
	return snapshotIDPrefix + content + "_" + hex.EncodeToString(h[:4])
}

// sameState reports whether eventID is a snapshot of the state content.
func sameState(eventID, content string) bool {
	return strings.HasPrefix(eventID, snapshotIDPrefix+content+"_")
}

// snapshotBody is the event body of a snapshot, shaped like a webhook so
// that eventlog.ParseEnvelope and the projector read it unchanged:
//
//	{"id":…,"type":"snapshot.<resource>","created_at":<read time>,
//	 "<resource>":<the object, bytes as received>,"properties":{"origin":…}}
func snapshotBody(id, resource string, obj json.RawMessage, readAt time.Time, origin string) []byte {
	b := make([]byte, 0, len(obj)+160)
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":`...)
	b = appendString(b, eventlog.SnapshotTypePrefix+"."+resource)
	b = append(b, `,"created_at":`...)
	b = appendString(b, readAt.UTC().Format(snapshotTimeLayout))
	b = append(b, ',')
	b = appendString(b, resource)
	b = append(b, ':')
	b = append(b, obj...)
	b = append(b, `,"properties":{"origin":`...)
	b = appendString(b, origin)
	return append(b, `}}`...)
}

// newSnapshot builds the event for obj. base is the id of the object's
// newest event in the log, or "".
func newSnapshot(resource string, obj json.RawMessage, readAt time.Time, origin, content, base string) (eventlog.Event, error) {
	body := snapshotBody(snapshotID(content, base), resource, obj, readAt, origin)
	env, err := eventlog.ParseEnvelope(body)
	if err != nil {
		return eventlog.Event{}, fmt.Errorf("building snapshot: %w", err)
	}
	if env.ResourceID == "" {
		return eventlog.Event{}, errNoObjectID
	}
	return eventlog.Event{Envelope: env, Source: eventlog.SourceSnapshot, Body: body}, nil
}

// objectID returns obj's "id", found the way the log will index it.
func objectID(resource string, obj json.RawMessage) (string, error) {
	probe := snapshotBody("probe", resource, obj, time.Unix(0, 0), "")
	env, err := eventlog.ParseEnvelope(probe)
	if err != nil {
		return "", fmt.Errorf("reading object: %w", err)
	}
	if env.ResourceID == "" {
		return "", errNoObjectID
	}
	return env.ResourceID, nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // A string always encodes.
	return append(b, q...)
}
