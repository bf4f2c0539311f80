package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// Status is the state of every projection, for `orb-sync status` and the
// metrics.
type Status struct {
	// Head is the last position in the log.
	Head int64
	// Leader is the application_name of the session holding the projector
	// lock (e.g. "orb-sync-leader"), or "" when no instance is applying.
	Leader string
	// Projections are in apply order.
	Projections []ProjectionStatus
}

// ProjectionStatus is one projection's progress.
type ProjectionStatus struct {
	Projection string
	Table      string
	// Version is this binary's definition; StoredVersion the one that
	// wrote the table (0 when the projection never ran). A difference
	// means the table needs a rebuild.
	Version       int
	StoredVersion int
	// Checkpoint is the last position applied; LagEvents is Head minus it.
	Checkpoint int64
	LagEvents  int64
	// LagSeconds is the age of the oldest event not applied yet, by the
	// time it was stored; 0 when caught up.
	LagSeconds float64
	// DeadLetters counts unresolved dead letters.
	DeadLetters int64
	// UpdatedAt is when the checkpoint last moved (zero if never).
	UpdatedAt time.Time
}

// ReadStatus reads every projection's progress in schema. It needs only
// read access and works whether or not a projector is running.
func ReadStatus(ctx context.Context, db DB, schema string) (Status, error) {
	var st Status
	var err error
	if st.Head, err = readHead(ctx, db, schema); err != nil {
		return Status{}, err
	}
	if st.Leader, err = readLeader(ctx, db, schema); err != nil {
		return Status{}, err
	}
	// One row per checkpoint, each subquery an index lookup. (A join with
	// log_head, unanalyzed, was estimated costly enough to be JIT-compiled
	// for 100 ms.)
	rows, err := db.Query(ctx, `
select c.projection, c.seq, c.version, c.updated_at,
       coalesce(extract(epoch from clock_timestamp() -
                (select e.received_at from `+pgx.Identifier{schema, "events"}.Sanitize()+` e where e.seq = c.seq + 1)), 0)::float8,
       (select count(*) from `+fold.DeadLettersTable(schema)+` d where d.projection = c.projection and d.resolved_at is null)
from `+checkpointsTable(schema)+` c`)
	if err != nil {
		return Status{}, fmt.Errorf("reading projection status: %w", err)
	}
	type row struct {
		Projection string
		Seq        int64
		Version    int
		UpdatedAt  time.Time
		LagSeconds float64
		Dead       int64
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return Status{}, fmt.Errorf("reading projection status: %w", err)
	}
	byName := map[string]row{}
	for _, r := range list {
		byName[r.Projection] = r
	}
	for _, p := range fold.Projections() {
		ps := ProjectionStatus{Projection: p.Name, Table: p.Table, Version: p.Version}
		if r, ok := byName[p.Name]; ok {
			ps.StoredVersion, ps.Checkpoint, ps.UpdatedAt = r.Version, r.Seq, r.UpdatedAt
			ps.LagSeconds, ps.DeadLetters = r.LagSeconds, r.Dead
		}
		ps.LagEvents = max(st.Head-ps.Checkpoint, 0)
		if ps.LagEvents == 0 {
			ps.LagSeconds = 0
		}
		st.Projections = append(st.Projections, ps)
	}
	return st, nil
}

// readLeader returns the application_name of the session holding the
// projector lock of schema, or "".
func readLeader(ctx context.Context, db DB, schema string) (string, error) {
	var leader string
	err := db.QueryRow(ctx, `
select coalesce((select a.application_name from pg_catalog.pg_locks l
                 join pg_catalog.pg_stat_activity a on a.pid = l.pid
                 where l.locktype = 'advisory' and l.granted and l.objsubid = 2
                   and l.classid::bigint = $1 and l.objid::bigint = $2
                   and l.database = (select oid from pg_catalog.pg_database where datname = current_database())
                 limit 1), '')`,
		int64(uint32(lockNamespace)), int64(uint32(orbsql.LockKey32(schema)))).Scan(&leader)
	if err != nil {
		return "", fmt.Errorf("reading the projector leader: %w", err)
	}
	return leader, nil
}
