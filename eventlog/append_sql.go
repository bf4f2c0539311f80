package eventlog

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// NotifyChannel is the LISTEN/NOTIFY channel rung after each append to
// schema's log. It carries no payload: it is a doorbell, and readers always
// read the table. The schema is part of the name so that several schemas in
// one database (tests, test and live accounts) don't wake each other.
func NotifyChannel(schema string) string {
	return schema + "_events"
}

// appendQueries holds the append statements with the schema filled in.
type appendQueries struct {
	lockHead, lockHeadTx, insert, moveHead, notify string
}

func newAppendQueries(schema string) appendQueries {
	s := pgx.Identifier{schema}.Sanitize()
	r := strings.NewReplacer("{{schema}}", s, "{{channel}}", orbsql.QuoteLiteral(NotifyChannel(schema)))
	return appendQueries{
		// The row lock is held to commit: appends are serialized, which is
		// what makes positions gapless and commit-ordered.
		lockHead: r.Replace(`select seq from {{schema}}.log_head for update`),
		// The same, for a caller's transaction, checking it can append.
		lockHeadTx: r.Replace(`select current_setting('transaction_isolation') from {{schema}}.log_head for update`),
		// Runs after the lock is held, so under READ COMMITTED its snapshot
		// sees every earlier append: the NOT EXISTS test is exact and the
		// numbering never leaves a hole for a duplicate.
		insert: r.Replace(`
insert into {{schema}}.events
    (seq, event_id, type, created_at, source, resource_type, resource_id,
     body_zstd, payload, orb_timestamp, orb_signature)
select h.seq + row_number() over (order by i.ord),
       i.event_id, i.type, i.created_at, i.source,
       nullif(i.resource_type, ''), nullif(i.resource_id, ''),
       i.body_zstd, convert_from(i.json, 'UTF8')::jsonb,
       nullif(i.orb_timestamp, ''), nullif(i.orb_signature, '')
from {{schema}}.log_head h,
     unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
            $6::text[], $7::bytea[], $8::text[], $9::text[], $10::bytea[])
         with ordinality
         as i(event_id, type, created_at, source, resource_type, resource_id,
              body_zstd, orb_timestamp, orb_signature, json, ord)
-- Stored ids are looked up by index with = ANY. A NOT EXISTS here is
-- planned as a hash anti-join that scans the whole log on every append.
where i.event_id <> all (array(
    select e.event_id from {{schema}}.events e where e.event_id = any ($1::text[])))
returning event_id, seq`),
		moveHead: r.Replace(`
update {{schema}}.log_head
set seq = coalesce((select max(seq) from {{schema}}.events), 0)`),
		// A DO block rather than SELECT pg_notify: no result set to read.
		notify: r.Replace(`do $$ begin perform pg_notify({{channel}}, ''); end $$`),
	}
}

// appendColumns is a batch of events as parallel arrays for unnest.
type appendColumns struct {
	ids, types, sources, resourceTypes, resourceIDs, timestamps, signatures []string
	createdAt                                                               []time.Time
	compressed                                                              [][]byte // events.body_zstd
	json                                                                    [][]byte // the body, sent as is for payload
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
// events sharing an id, with each body compressed (unless Append already
// did, in the caller's goroutine) and as text for the jsonb copy.
func newAppendColumns(events []Event) (appendColumns, []int, error) {
	var c appendColumns
	firstIndex := firstIndexes(events)
	for i, ev := range events {
		if firstIndex[i] != i {
			continue
		}
		compressed := ev.compressed
		if compressed == nil {
			var err error
			if compressed, err = CompressBody(ev.Body); err != nil {
				return c, nil, err
			}
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
		c.compressed = append(c.compressed, compressed)
		c.timestamps = append(c.timestamps, ev.OrbTimestamp)
		c.signatures = append(c.signatures, ev.OrbSignature)
		c.json = append(c.json, ev.Body)
	}
	return c, firstIndex, nil
}

func (c appendColumns) args() []any {
	return []any{c.ids, c.types, c.createdAt, c.sources, c.resourceTypes, c.resourceIDs, c.compressed, c.timestamps, c.signatures, c.json}
}

// Event sources, as stored in events.source.
const (
	SourceWebhook   = "webhook"
	SourceSnapshot  = "snapshot"
	SourceRecovered = "recovered"
)
