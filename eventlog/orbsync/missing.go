package orbsync

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/orb-sync/orb-sync/eventlog"
)

// MissingType is the type of the marker Reconcile appends for an object the
// log says exists but a complete listing no longer returns (Orb sends no
// deletion webhooks). It never deletes anything; readers decide what a
// vanished object means for them (e.g. set a missing_since column).
//
// Body, shaped like a webhook so eventlog.ParseEnvelope reads it:
//
//	{"id": "missing_<32 hex>",
//	 "type": "reconcile.missing",
//	 "created_at": <start of the listing that lacked it, RFC 3339 µs UTC>,
//	 "resource_type": "customer",
//	 "customer": {"id": "cus_123"},
//	 "properties": {"origin": "reconcile",
//	                "last_event_id": <id of the object's newest event before>,
//	                "last_event_at": <its created_at>}}
//
// The row has source "snapshot" and resource_type/resource_id naming the
// vanished object, and it orders after every event the listing saw. If the
// object comes back, the next snapshot of it orders after the marker.
const MissingType = "reconcile.missing"

// missingMarker builds the marker for resource id, whose newest event was
// lastEventID at lastEventAt, found missing from a listing started at
// listedAt. The id is derived from the object and its last event, so
// repeated passes add one marker per disappearance.
func missingMarker(resource, id, lastEventID string, lastEventAt, listedAt time.Time) eventlog.Event {
	h := sha256.Sum256([]byte(resource + "\x00" + id + "\x00" + lastEventID))
	eventID := "missing_" + hex.EncodeToString(h[:16])
	b := []byte(`{"id":`)
	b = appendString(b, eventID)
	b = append(b, `,"type":`...)
	b = appendString(b, MissingType)
	b = append(b, `,"created_at":`...)
	b = appendString(b, listedAt.UTC().Format(snapshotTimeLayout))
	b = append(b, `,"resource_type":`...)
	b = appendString(b, resource)
	b = append(b, ',')
	b = appendString(b, resource)
	b = append(b, `:{"id":`...)
	b = appendString(b, id)
	b = append(b, `},"properties":{"origin":`...)
	b = appendString(b, OriginReconcile)
	b = append(b, `,"last_event_id":`...)
	b = appendString(b, lastEventID)
	b = append(b, `,"last_event_at":`...)
	b = appendString(b, lastEventAt.UTC().Format(snapshotTimeLayout))
	b = append(b, `}}`...)
	return eventlog.Event{
		Envelope: eventlog.Envelope{
			ID: eventID, Type: MissingType, CreatedAt: listedAt.UTC().Truncate(time.Microsecond),
			ResourceType: resource, ResourceID: id,
		},
		Source: eventlog.SourceSnapshot,
		Body:   b,
	}
}
