package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Defaults for Verify.
const (
	verifyExamplesDefault = 10
	verifyAttempts        = 3
	verifyValueMax        = 200 // Bytes of a value shown in an example.
)

// VerifyResult compares one live table with the same projection recomputed
// from the log.
type VerifyResult struct {
	Projection string
	Table      string
	// Checkpoint is the log position both were compared at.
	Checkpoint int64
	// Version is this binary's definition; StoredVersion the one that built
	// the table. When they differ, differences are expected: rebuild.
	Version, StoredVersion int
	// Rows in the live table.
	Rows int64
	// Differences counts rows missing from the live table, rows it should
	// not have, and rows with a differing column.
	Differences int64
	// Examples are the first differences, by key.
	Examples []RowDiff
	// DeadLetters are events the recompute could not apply that the live
	// projection never set aside (a column changed type since).
	DeadLetters []DeadLetter
}

// OK reports whether the live table is exactly what the log gives.
func (r VerifyResult) OK() bool { return r.Differences == 0 && len(r.DeadLetters) == 0 }

// RowDiff is one row that differs.
type RowDiff struct {
	Key string
	// Kind is "missing" (the log gives the row, the table lacks it),
	// "extra" (the table has a row the log does not give) or "differs".
	Kind string
	// Columns that differ, with both values (truncated), when Kind is
	// "differs".
	Columns []ColumnDiff
}

// ColumnDiff is one differing column: its value in the live table and in
// the recomputed one, as JSON.
type ColumnDiff struct {
	Column, Live, Rebuilt string
}

func (d RowDiff) String() string {
	if d.Kind != "differs" {
		return fmt.Sprintf("%s: %s", d.Key, d.Kind)
	}
	parts := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		parts[i] = fmt.Sprintf("%s (live %s, log %s)", c.Column, c.Live, c.Rebuilt)
	}
	return fmt.Sprintf("%s: %s", d.Key, strings.Join(parts, ", "))
}

// Verify recomputes the named projections (all when names is empty) from
// the log into scratch tables and compares them, every row and column,
// with the live tables. It never writes: each projection is checked in one
// REPEATABLE READ transaction that is rolled back, so the scratch table
// never outlives it, and the live table, its checkpoint and the log are
// read in the same snapshot, consistent under concurrent projection. The
// log is recomputed up to that checkpoint. examples bounds the differences
// reported per table (0: 10).
func Verify(ctx context.Context, db eventlog.TxBeginner, schema string, names []string, examples int) ([]VerifyResult, error) {
	list, err := ProjectionsNamed(names)
	if err != nil {
		return nil, err
	}
	if examples <= 0 {
		examples = verifyExamplesDefault
	}
	var out []VerifyResult
	for _, p := range list {
		res, err := verifyOne(ctx, db, schema, p, examples)
		if err != nil {
			return out, fmt.Errorf("verifying %s: %w", p.Table, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// errSwapped says the live table was replaced during the check.
var errSwapped = errors.New("table swapped during the check")

func verifyOne(ctx context.Context, db eventlog.TxBeginner, schema string, p Projection, examples int) (VerifyResult, error) {
	for attempt := 1; ; attempt++ {
		res, err := verifyTx(ctx, db, schema, p, examples)
		if !errors.Is(err, errSwapped) || attempt == verifyAttempts {
			return res, err
		}
	}
}

func verifyTx(ctx context.Context, db eventlog.TxBeginner, schema string, p Projection, examples int) (VerifyResult, error) {
	res := VerifyResult{Projection: p.Name, Table: p.Table, Version: p.Version}
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return res, fmt.Errorf("beginning: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }() // Also drops the scratch table.
	if _, err := tx.Exec(ctx, sqlFor(schema).LiftStatementTimeout); err != nil {
		return res, fmt.Errorf("lifting statement_timeout: %w", err)
	}
	// The first query takes the snapshot: the checkpoint, the live rows and
	// the log are all read as of here.
	err = tx.QueryRow(ctx, sqlFor(schema).ReadCheckpoint, p.Name).
		Scan(&res.Checkpoint, &res.StoredVersion)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return res, fmt.Errorf("reading the checkpoint: %w", err)
	}
	liveOID, err := fold.TableOID(ctx, tx, schema, p.Table)
	if err != nil {
		return res, err
	}
	// Names resolve against the current catalog, rows (pg_attribute's
	// too) against the snapshot: a table swapped in after the snapshot is
	// found by name but has no columns in it. Check again.
	var visible bool
	if err := tx.QueryRow(ctx, sqlFor(schema).TableExists, liveOID).Scan(&visible); err != nil {
		return res, fmt.Errorf("looking up %s: %w", p.Table, err)
	}
	if !visible {
		return res, errSwapped
	}
	scratch, err := createScratch(ctx, tx, schema, p)
	if err != nil {
		return res, err
	}
	// Leave out what the live table leaves out: verify compares it with
	// the log minus its dead letters.
	t, err := fold.CompileWithDeadKey(ctx, tx, schema, p, scratch, p.Name)
	if err != nil {
		return res, err
	}
	applied, err := t.Fold(ctx, tx, 0, res.Checkpoint)
	if err != nil {
		return res, err
	}
	res.DeadLetters = applied.DeadLetters
	if err := compareTables(ctx, tx, schema, p, scratch, examples, &res); err != nil {
		return res, err
	}
	// compareTables locked the live table; if it is not the one the
	// snapshot's checkpoint was read with, a swap happened: check again.
	oid, err := fold.TableOID(ctx, tx, schema, p.Table)
	if err != nil {
		return res, err
	}
	if oid != liveOID {
		return res, errSwapped
	}
	return res, nil
}

// createScratch creates, in tx, an unlogged table with the live table's
// columns (types, generated expressions, NOT NULL, checks) and key, from
// the catalog: CREATE TABLE … LIKE would lock the live table until the
// transaction ends and hold up a rebuild's swap.
func createScratch(ctx context.Context, tx pgx.Tx, schema string, p Projection) (string, error) {
	var pid int32
	if err := tx.QueryRow(ctx, sqlFor(schema).BackendPID).Scan(&pid); err != nil {
		return "", fmt.Errorf("naming the scratch table: %w", err)
	}
	scratch := fmt.Sprintf("%.40s_verify_%d", p.Table, pid)
	var ddl string
	err := tx.QueryRow(ctx, sqlFor(schema).ScratchDDL, pgx.Identifier{schema, p.Table}.Sanitize(), pgx.Identifier{schema, scratch}.Sanitize(),
		p.KeyColumns()).Scan(&ddl)
	if err != nil {
		return "", fmt.Errorf("reading the columns of %s: %w", p.Table, err)
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return "", fmt.Errorf("creating %s: %w", scratch, err)
	}
	return scratch, nil
}

// compareTables counts the rows that differ between the live table and
// scratch, and describes the first examples.
func compareTables(ctx context.Context, tx pgx.Tx, schema string, p Projection, scratch string, examples int, res *VerifyResult) error {
	live := pgx.Identifier{schema, p.Table}.Sanitize()
	if err := tx.QueryRow(ctx, "select count(*) from "+live).Scan(&res.Rows); err != nil {
		return fmt.Errorf("counting rows: %w", err)
	}
	cols, err := fold.ReadColumns(ctx, tx, schema, p.Table)
	if err != nil {
		return err
	}
	key := pgx.Identifier{p.Key}.Sanitize()
	var differs, join, shown []string
	for _, c := range cols {
		id := pgx.Identifier{c.Name}.Sanitize()
		differs = append(differs, fmt.Sprintf("l.%s is distinct from v.%s", id, id))
	}
	for _, k := range p.KeyColumns() {
		id := pgx.Identifier{k}.Sanitize()
		join = append(join, fmt.Sprintf("v.%s = l.%s", id, id))
		shown = append(shown, fmt.Sprintf("coalesce(l.%[1]s, v.%[1]s)::text", id))
	}
	// A history row is shown as "id@valid_from#seq".
	q := fmt.Sprintf(`select concat_ws('@', %[5]s), l.%[1]s is null, v.%[1]s is null, to_jsonb(l), to_jsonb(v), count(*) over ()
from %[2]s l full join %[3]s v on %[6]s
where l.%[1]s is null or v.%[1]s is null or %[4]s
order by 1 limit $1`, key, live, pgx.Identifier{schema, scratch}.Sanitize(), strings.Join(differs, " or "),
		strings.Join(shown, ", "), strings.Join(join, " and "))
	rows, err := tx.Query(ctx, q, examples)
	if err != nil {
		return fmt.Errorf("comparing rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d RowDiff
		var missing, extra bool
		var l, v map[string]json.RawMessage
		if err := rows.Scan(&d.Key, &missing, &extra, &l, &v, &res.Differences); err != nil {
			return fmt.Errorf("comparing rows: %w", err)
		}
		res.Examples = append(res.Examples, describeDiff(d, missing, extra, cols, l, v))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("comparing rows: %w", err)
	}
	return nil
}

func describeDiff(d RowDiff, missing, extra bool, cols []fold.Column, live, rebuilt map[string]json.RawMessage) RowDiff {
	switch {
	case missing:
		d.Kind = "missing"
		return d
	case extra:
		d.Kind = "extra"
		return d
	}
	d.Kind = "differs"
	for _, c := range cols {
		l, r := string(live[c.Name]), string(rebuilt[c.Name])
		if l != r {
			d.Columns = append(d.Columns, ColumnDiff{Column: c.Name, Live: truncate(l), Rebuilt: truncate(r)})
		}
	}
	return d
}

func truncate(s string) string {
	if len(s) <= verifyValueMax {
		return s
	}
	return s[:verifyValueMax] + "…"
}
