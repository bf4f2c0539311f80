package orbsync

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds this package's SQL with the schema filled in. Each
// statement is named after what it does; values are always parameters.
type queries struct {
	newestEvents string

	loadProgress, listProgress, resetProgress, advanceProgress, failProgress string

	tryLock string

	loadCheckpoint, saveSeq, savePass string

	existingObjects, staleSubscriptions, eventsAfter string
}

// objectIDs walks the distinct ids of objects of type $1 in id order, one
// index probe each (PostgreSQL has no skip scan for this): ids(id).
const objectIDs = `ids(id) as (
    (select resource_id from {{schema}}.events
     where resource_type = $1 and resource_id is not null
     order by resource_type, resource_id limit 1)
    union all
    select (select e.resource_id from {{schema}}.events e
            where e.resource_type = $1 and e.resource_id > ids.id
            order by e.resource_type, e.resource_id limit 1)
    from ids where ids.id is not null)`

// newestOfObject is the newest event of the object ids.id, in the
// projections' order.
const newestOfObject = `
    select e.resource_id, e.event_id, e.type, e.created_at, e.seq from {{schema}}.events e
    where e.resource_type = $1 and e.resource_id = ids.id
    order by e.created_at desc, e.seq desc
    limit 1`

func newQueries(schema string) queries {
	r := strings.NewReplacer("{{schema}}", pgx.Identifier{schema}.Sanitize())
	return queries{
		// The newest event of each object, in the projections' order. One
		// backward step on events_resource_idx per object.
		newestEvents: r.Replace(`
select r.id, l.event_id
from unnest($2::text[]) as r(id)
cross join lateral (
    select e.event_id from {{schema}}.events e
    where e.resource_id = r.id and e.resource_type = $1
    order by e.created_at desc, e.seq desc
    limit 1) l`),

		loadProgress: r.Replace(`select ` + progressColumns + ` from {{schema}}.backfill_progress where entity = $1`),
		listProgress: r.Replace(`select ` + progressColumns + ` from {{schema}}.backfill_progress order by entity`),
		resetProgress: r.Replace(`
insert into {{schema}}.backfill_progress (entity, since, list_from) values ($1, $2, $3)
on conflict (entity) do update set
    since = excluded.since, list_from = excluded.list_from, cursor = '', pages = 0, fetched = 0, stored = 0,
    duplicates = 0, errors = 0, done = false, last_error = null,
    started_at = now(), updated_at = now(), finished_at = null
returning ` + progressColumns),
		// Compare-and-set on pages: a second backfill of the same entity
		// (one whose advisory lock session died, say) cannot interleave.
		advanceProgress: r.Replace(`
update {{schema}}.backfill_progress set
    cursor = $3, pages = pages + 1, fetched = fetched + $4, stored = stored + $5,
    duplicates = duplicates + $6, errors = errors + $7, done = $8, last_error = null,
    updated_at = now(), finished_at = case when $8 then now() end
where entity = $1 and pages = $2`),
		failProgress: r.Replace(`update {{schema}}.backfill_progress set last_error = $2, updated_at = now() where entity = $1`),

		tryLock: `select pg_try_advisory_lock($1)`,

		loadCheckpoint: r.Replace(`select seq, pass_started_at from {{schema}}.sync_checkpoints where job = $1`),
		saveSeq: r.Replace(`
insert into {{schema}}.sync_checkpoints (job, seq) values ($1, $2)
on conflict (job) do update set seq = excluded.seq, updated_at = now()`),
		savePass: r.Replace(`
insert into {{schema}}.sync_checkpoints (job, pass_started_at) values ($1, $2)
on conflict (job) do update set pass_started_at = excluded.pass_started_at, updated_at = now()`),

		// Objects of a type the log says exist: each one's newest event,
		// unless that is already a missing marker.
		// The newest event of every object of type $1, unless it is a
		// missing marker. Index-driven (events_type_resource_newest_idx):
		// the recursive part steps from one object id to the next, the
		// lateral part reads one row per object, so the cost follows the
		// number of objects, not the length of the log.
		existingObjects: r.Replace(`
with recursive ` + objectIDs + `
select n.resource_id, n.event_id, n.created_at
from ids cross join lateral (` + newestOfObject + `) n
where ids.id is not null and n.type <> '` + MissingType + `'`),

		// Subscriptions whose newest stored state is active with a billing
		// period that has ended: Orb sends no webhook when a period rolls
		// over, so their stored period is stale. Index-driven as above.
		staleSubscriptions: r.Replace(`
with recursive ` + strings.ReplaceAll(objectIDs, "$1", "'subscription'") + `
select n.resource_id
from ids cross join lateral (` + strings.ReplaceAll(newestOfObject, "$1", "'subscription'") + `) n
join {{schema}}.events e on e.seq = n.seq
where ids.id is not null
  and e.payload->'subscription'->>'status' = 'active'
  and e.payload->'subscription'->>'current_billing_period_end_date' ~ '^\d{4}-\d\d-\d\d'
  and (e.payload->'subscription'->>'current_billing_period_end_date')::timestamptz < $1
order by n.resource_id
limit $2`),

		// What the refetch worker needs to know about each new event,
		// computed in the database so whole payloads never travel, and only
		// for events it may act on (a snapshot's payload is not even read).
		eventsAfter: r.Replace(`
select seq, type, source, coalesce(resource_type, ''), coalesce(resource_id, ''),
    coalesce(case when source <> 'snapshot' and resource_type = 'invoice' then
        jsonb_typeof(payload->'invoice') = 'object' and payload->'invoice' ? 'line_items' end, false),
    coalesce(case when source <> 'snapshot' and resource_type = 'subscription' then
        jsonb_typeof(payload->'subscription') = 'object' and payload->'subscription' ? 'price_intervals' end, false),
    coalesce(case when source <> 'snapshot' and resource_type = 'subscription' then
        payload->'subscription'->>'current_billing_period_end_date' end, ''),
    coalesce(case when source <> 'snapshot' and resource_type = 'plan' then
        payload->'plan'->>'external_plan_id' end, '')
from {{schema}}.events
where seq > $1
order by seq
limit $2`),
	}
}

// progressColumns are the columns of backfill_progress, in Progress order.
const progressColumns = `entity, since, list_from, cursor, pages, fetched, stored, duplicates, errors, done,
    last_error, started_at, updated_at, finished_at`
