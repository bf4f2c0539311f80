package eventlog

import (
	"time"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// NotifyChannel is the LISTEN/NOTIFY channel rung after each append to
// schema's log. It carries no payload: it is a doorbell, and readers always
// read the table. The schema is part of the name so that several schemas in
// one database (tests, test and live accounts) don't wake each other.
func NotifyChannel(schema string) string {
	return schema + "_events"
}

// queries is the log's SQL, in sql/queries/eventlog/ (one file per
// field, named by its tag; see package sql for the scheme).
type queries struct {
	LockHead   string `sql:"lock_head"`
	LockHeadTx string `sql:"lock_head_tx"`
	Append     string `sql:"append"`
	Notify     string `sql:"notify"`
	Head       string `sql:"head"`

	BodyByID        string `sql:"body_by_id"`
	TypesAfter      string `sql:"types_after"`
	CountTypesAfter string `sql:"count_types_after"`
	NewestEventIDs  string `sql:"newest_event_ids"`
}

var sqlFiles = orbsql.MustQueries[queries]("eventlog")

// appendColumns is a batch of events as parallel arrays for unnest.
type appendColumns struct {
	ids, types, sources, resourceTypes, resourceIDs, timestamps, signatures []string
	createdAt                                                               []time.Time
	compressed                                                              [][]byte // events.body_zstd
	json                                                                    [][]byte // the body, sent as is for payload
	refs                                                                    [][]byte // events.refs as JSON; nil for the log to build
}

// eventRefs is an event's refs as the append sends them.
type eventRefs struct {
	json  []byte // EventRefs' skeleton; nil: none, or left to the log
	built bool   // EventRefs ran
}

func newEventRefs(body []byte) eventRefs {
	refs, ok := EventRefs(body)
	if !ok {
		// Left to the log's trigger, which builds it from payload.
		refs = nil
	}
	return eventRefs{json: refs, built: true}
}

// jsonArgs lays the bodies end to end in one buffer, with each one's
// 1-based offset and length, as append.sql takes them.
func (c appendColumns) jsonArgs() (blob []byte, offsets, lengths []int32) {
	size := 0
	for _, b := range c.json {
		size += len(b)
	}
	blob = make([]byte, 0, size)
	offsets = make([]int32, len(c.json))
	lengths = make([]int32, len(c.json))
	for i, b := range c.json {
		offsets[i] = int32(len(blob) + 1)
		lengths[i] = int32(len(b))
		blob = append(blob, b...)
	}
	return blob, offsets, lengths
}

// firstIndexes maps each event to the index of the first event with its
// id, so later copies can be answered as duplicates.
func firstIndexes(events []Event) []int {
	firstIndex := make([]int, len(events))
	seen := make(map[string]int, len(events))
	for i, ev := range events {
		if j, ok := seen[ev.ID]; ok {
			firstIndex[i] = j
			continue
		}
		seen[ev.ID] = i
		firstIndex[i] = i
	}
	return firstIndex
}

// newAppendColumns lays out events column-wise, keeping only the first of
// events sharing an id, each prepared (compressed body and refs, unless
// Append or the caller already did, on their own goroutine) and as text
// for the jsonb copy.
func newAppendColumns(events []Event) (appendColumns, []int, error) {
	var c appendColumns
	firstIndex := firstIndexes(events)
	for i, ev := range events {
		if firstIndex[i] != i {
			continue
		}
		if err := ev.prepare(); err != nil {
			return c, nil, err
		}
		source := ev.Source
		if source == "" {
			source = SourceWebhook
		}
		c.ids = append(c.ids, ev.ID)
		c.types = append(c.types, ev.Type)
		c.createdAt = append(c.createdAt, ev.CreatedAt)
		c.sources = append(c.sources, source)
		c.resourceTypes = append(c.resourceTypes, ev.ResourceType)
		c.resourceIDs = append(c.resourceIDs, ev.ResourceID)
		c.compressed = append(c.compressed, ev.compressed)
		c.timestamps = append(c.timestamps, ev.OrbTimestamp)
		c.signatures = append(c.signatures, ev.OrbSignature)
		c.json = append(c.json, ev.Body)
		c.refs = append(c.refs, ev.refs.json)
	}
	return c, firstIndex, nil
}

func (c appendColumns) args() []any {
	blob, offsets, lengths := c.jsonArgs()
	return []any{c.ids, c.types, c.createdAt, c.sources, c.resourceTypes, c.resourceIDs, c.compressed, c.timestamps, c.signatures,
		blob, offsets, lengths, c.refs}
}

// Event sources, as stored in events.source.
const (
	SourceWebhook   = "webhook"
	SourceSnapshot  = "snapshot"
	SourceRecovered = "recovered"
)
