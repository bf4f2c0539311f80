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
	// Paused is a history projection the leader leaves where it is
	// (PROJECTOR_HISTORY): its lag grows on purpose, and LagEvents and
	// LagSeconds are then 0.
	Paused bool
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
	// One row per checkpoint, each subquery an index lookup (status.sql).
	rows, err := db.Query(ctx, sqlFor(schema).Status)
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
		Paused     bool
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
			ps.LagSeconds, ps.DeadLetters, ps.Paused = r.LagSeconds, r.Dead, r.Paused
		}
		ps.LagEvents = max(st.Head-ps.Checkpoint, 0)
		if ps.LagEvents == 0 || ps.Paused {
			ps.LagEvents, ps.LagSeconds = 0, 0
		}
		st.Projections = append(st.Projections, ps)
	}
	return st, nil
}

// readLeader returns the application_name of the session holding the
// projector lock of schema, or "".
func readLeader(ctx context.Context, db DB, schema string) (string, error) {
	var leader string
	err := db.QueryRow(ctx, sqlFor(schema).Leader,
		int64(uint32(lockNamespace)), int64(uint32(orbsql.LockKey32(schema)))).Scan(&leader)
	if err != nil {
		return "", fmt.Errorf("reading the projector leader: %w", err)
	}
	return leader, nil
}
