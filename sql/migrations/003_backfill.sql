-- State of the jobs that read Orb's REST API into the event log (package
-- eventlog/backfill): the backfill's per-entity progress and the periodic
-- workers' checkpoints. The events they read go to {{.schema}}.events like
-- any webhook; these tables only say how far each job got.

-- One row per entity (customers, invoices, …) being or having been
-- backfilled. cursor is the next page to fetch; it is written in the same
-- transaction as the previous page's events, so a killed backfill resumes
-- exactly after the last page it stored, with nothing lost or read twice.
-- The counts add up over every run of the same backfill (until --restart).
create table {{.schema}}.backfill_progress (
    entity      text        primary key,
    -- The lower bound of the listing (created_at or invoice_date); null for
    -- everything. A stored cursor is only valid for the same bound.
    since       timestamptz,
    cursor      text        not null default '',
    pages       bigint      not null default 0 check (pages >= 0),
    -- Objects read from the API; each is either stored as a new snapshot,
    -- a duplicate (the log already holds that state), or an error.
    fetched     bigint      not null default 0 check (fetched >= 0),
    stored      bigint      not null default 0 check (stored >= 0),
    duplicates  bigint      not null default 0 check (duplicates >= 0),
    errors      bigint      not null default 0 check (errors >= 0),
    done        boolean     not null default false,
    last_error  text,
    started_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    finished_at timestamptz
);

-- Checkpoints of the periodic workers in serve: the refetch worker's log
-- position (seq), and when the last complete reconcile or repair pass
-- started (pass_started_at), so a restart neither redoes a recent pass nor
-- leaves a gap after a long outage.
create table {{.schema}}.sync_checkpoints (
    job             text        primary key,
    seq             bigint,
    pass_started_at timestamptz,
    updated_at      timestamptz not null default now()
);

-- Snapshots are only stored when they differ from the object's newest event,
-- and reconcile asks which objects the log says exist: both look up "the
-- newest event of object X" in the projections' order (created_at, seq).
-- This index answers that with one backward index step; it serves every
-- query the (resource_id, resource_type) index it replaces served.
drop index {{.schema}}.events_resource_idx;
create index events_resource_idx on {{.schema}}.events (resource_id, resource_type, created_at, seq);

---- create above / drop below ----

drop index {{.schema}}.events_resource_idx;
create index events_resource_idx on {{.schema}}.events (resource_id, resource_type);
drop table {{.schema}}.sync_checkpoints;
drop table {{.schema}}.backfill_progress;
