package projector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orb-sync/orb-sync/eventlog"
)

// ErrCheckpointMoved is returned when a projection's checkpoint is not
// where this runner left it: another runner applied meanwhile. Nothing was
// applied; reread the checkpoint and go on from there.
var ErrCheckpointMoved = errors.New("projection checkpoint moved")

// ErrNoCheckpoint is returned for a projection that has never been started
// in this schema.
var ErrNoCheckpoint = errors.New("projection has no checkpoint")

// Checkpoint is how far a projection has applied the log.
type Checkpoint struct {
	Projection string
	// Seq is the last log position applied.
	Seq int64
	// Version of the projection definition that wrote the table.
	Version   int
	UpdatedAt time.Time
}

// LockCheckpoint reads projection's checkpoint and locks it until tx ends.
// The live projector takes the same lock at the start of every batch, so
// holding it pauses that projection: a rebuild swaps its table under it,
// and a dead-letter retry recomputes rows under it.
func LockCheckpoint(ctx context.Context, tx pgx.Tx, schema, projection string) (Checkpoint, error) {
	c := Checkpoint{Projection: projection}
	err := tx.QueryRow(ctx, sqlFor(schema).LockCheckpoint, projection).Scan(&c.Seq, &c.Version, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("%w: %s", ErrNoCheckpoint, projection)
	}
	if err != nil {
		return c, fmt.Errorf("locking checkpoint of %s: %w", projection, err)
	}
	return c, nil
}

// queueLockCheckpoint queues LockCheckpoint on b; when b runs, the
// checkpoint is stored in *c.
func queueLockCheckpoint(b *pgx.Batch, schema, projection string, c *Checkpoint) {
	c.Projection = projection
	b.Queue(sqlFor(schema).LockCheckpoint, projection).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&c.Seq, &c.Version, &c.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrNoCheckpoint, projection)
		}
		if err != nil {
			return fmt.Errorf("locking checkpoint of %s: %w", projection, err)
		}
		return nil
	})
}

// SetCheckpoint moves projection's checkpoint to seq and records version,
// unconditionally: for a rebuild's swap, under LockCheckpoint.
func SetCheckpoint(ctx context.Context, tx pgx.Tx, schema, projection string, seq int64, version int) error {
	tag, err := tx.Exec(ctx, sqlFor(schema).SetCheckpoint, projection, seq, version)
	if err != nil {
		return fmt.Errorf("setting checkpoint of %s: %w", projection, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: %s", ErrNoCheckpoint, projection)
	}
	return nil
}

// advanceCheckpoint moves the checkpoint from from to to, if it is still
// at from (compare-and-set).
func advanceCheckpoint(ctx context.Context, tx pgx.Tx, schema, projection string, from, to int64) error {
	tag, err := tx.Exec(ctx, sqlFor(schema).AdvanceCheckpoint, projection, from, to)
	if err != nil {
		return fmt.Errorf("advancing checkpoint of %s: %w", projection, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%w: %s is no longer at %d", ErrCheckpointMoved, projection, from)
	}
	return nil
}

// queueAdvanceCheckpoint queues advanceCheckpoint on b.
func queueAdvanceCheckpoint(b *pgx.Batch, schema, projection string, from, to int64) {
	b.Queue(sqlFor(schema).AdvanceCheckpoint, projection, from, to).Exec(func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%w: %s is no longer at %d", ErrCheckpointMoved, projection, from)
		}
		return nil
	})
}

// advanceCheckpoints moves the checkpoints of steps that had nothing to
// apply, in one statement. Each moves only if it is still at its step's
// from (as advanceCheckpoint); a step whose checkpoint moved gets
// ErrCheckpointMoved in its err.
func advanceCheckpoints(ctx context.Context, tx pgx.Tx, schema string, steps []*step) error {
	if len(steps) == 0 {
		return nil
	}
	names := make([]string, len(steps))
	from, to := make([]int64, len(steps)), make([]int64, len(steps))
	for i, st := range steps {
		names[i], from[i], to[i] = st.target.Projection().Name, st.from, st.to
	}
	rows, err := tx.Query(ctx, sqlFor(schema).AdvanceCheckpoints, names, from, to)
	if err != nil {
		return fmt.Errorf("advancing checkpoints: %w", err)
	}
	moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("advancing checkpoints: %w", err)
	}
	for _, st := range steps {
		if !slices.Contains(moved, st.target.Projection().Name) {
			st.err = fmt.Errorf("%w: %s is no longer at %d", ErrCheckpointMoved, st.target.Projection().Name, st.from)
		}
	}
	return nil
}

// ensureCheckpoints creates a checkpoint at 0 for every projection that
// has none, recording the version that is about to write it.
func ensureCheckpoints(ctx context.Context, db DB, schema string, projections []Projection) error {
	names := make([]string, len(projections))
	versions := make([]int32, len(projections))
	for i, p := range projections {
		names[i], versions[i] = p.Name, int32(p.Version)
	}
	_, err := db.Exec(ctx, sqlFor(schema).EnsureCheckpoints, names, versions)
	if err != nil {
		return fmt.Errorf("creating checkpoints: %w", err)
	}
	return nil
}

// readCheckpoints returns every checkpoint by projection name.
func readCheckpoints(ctx context.Context, db DB, schema string) (map[string]Checkpoint, error) {
	rows, err := db.Query(ctx, sqlFor(schema).ReadCheckpoints)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Checkpoint])
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out := make(map[string]Checkpoint, len(list))
	for _, c := range list {
		out[c.Projection] = c
	}
	return out, nil
}

// ErrPaused is returned when a read needs a history projection that the
// leader leaves paused (PROJECTOR_HISTORY).
var ErrPaused = errors.New("history paused")

// PausedAt reports whether the projection named is paused
// (PROJECTOR_HISTORY), and the log position its table stops at.
func PausedAt(ctx context.Context, db DB, schema, projection string) (seq int64, paused bool, err error) {
	err = db.QueryRow(ctx, sqlFor(schema).PausedCheckpoint, projection).Scan(&seq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("reading whether %s is paused: %w", projection, err)
	}
	return seq, true, nil
}

// checkLive fails with ErrPaused if the projection named is paused: its
// table stops at its checkpoint, so what it answers would be silently old.
func checkLive(ctx context.Context, db DB, schema, projection string) error {
	seq, paused, err := PausedAt(ctx, db, schema, projection)
	if err != nil || !paused {
		return err
	}
	return fmt.Errorf("%w: %s is paused at log position %d (PROJECTOR_HISTORY); keep it live to read it, and it folds what it missed from the log", ErrPaused, projection, seq)
}

// readHead returns the last position in the log.
func readHead(ctx context.Context, db DB, schema string) (int64, error) {
	return eventlog.Head(ctx, db, schema)
}
