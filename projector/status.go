package projector

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is the state of every projection, for `orb-sync status` and the
// metrics.
type Status struct {
	// Head is the last position in the log.
	Head int64
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
	events := pgx.Identifier{schema, "events"}.Sanitize()
	rows, err := db.Query(ctx, `
select h.seq, c.projection, c.seq, c.version, c.updated_at,
       coalesce(extract(epoch from clock_timestamp() -
                (select e.received_at from `+events+` e where e.seq = c.seq + 1)), 0)::float8,
       (select count(*) from `+deadLettersTable(schema)+` d where d.projection = c.projection and d.resolved_at is null)
from `+pgx.Identifier{schema, "log_head"}.Sanitize()+` h
left join `+checkpointsTable(schema)+` c on true`)
	if err != nil {
		return Status{}, fmt.Errorf("reading projection status: %w", err)
	}
	type row struct {
		Head       int64
		Projection *string
		Seq        *int64
		Version    *int
		UpdatedAt  *time.Time
		LagSeconds float64
		Dead       int64
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return Status{}, fmt.Errorf("reading projection status: %w", err)
	}
	var st Status
	byName := map[string]row{}
	for _, r := range list {
		st.Head = r.Head
		if r.Projection != nil {
			byName[*r.Projection] = r
		}
	}
	for _, p := range catalog {
		ps := ProjectionStatus{Projection: p.Name, Table: p.Table, Version: p.Version}
		if r, ok := byName[p.Name]; ok {
			ps.StoredVersion, ps.Checkpoint, ps.UpdatedAt = *r.Version, *r.Seq, *r.UpdatedAt
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
