package fold

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// DB is a pool, a connection or a transaction (see eventlog.DB).
type DB = eventlog.DB

// Target is a projection compiled for one table: its live table, or a
// shadow table a rebuild fills before swapping it in.
type Target struct {
	projection Projection
	schema     string
	table      string
	columns    []Column
	sql        statements
	oid        uint32 // The table's, when compiled: refreshTarget (autorebuild.go).
	deadKey    string // dead_letters.projection of this table's dead letters
}

// ApplyResult says what Apply or Recompute did.
type ApplyResult struct {
	// Events is the number of events folded (read by the projection,
	// neither dead-lettered nor without an entity id).
	Events int64
	// Rows is the number of rows written: one per entity touched.
	Rows int64
	// Recomputed is the number of entities rebuilt from their whole history
	// because an event arrived older than their row, or on request.
	Recomputed int64
	// Unapplied is the number of events set aside in dead_letters because
	// no entity could be found for them (e.g. billable_metric.edited
	// without an id).
	Unapplied int64
	// DeadLetters are the events set aside in this call for bad data.
	DeadLetters []DeadLetter
	// UnknownFields are top-level keys of the newest full objects with no
	// column in the table (Orb added a field, or a migration is missing).
	UnknownFields []string
}

func (r *ApplyResult) add(o ApplyResult) {
	r.Events += o.Events
	r.Rows += o.Rows
	r.Recomputed += o.Recomputed
	r.Unapplied += o.Unapplied
	r.DeadLetters = append(r.DeadLetters, o.DeadLetters...)
}

// Compile prepares projection name to write into table, which must have
// the projection's columns (a live table, or one created LIKE it). It reads
// the table's columns now: columns added later are written only by a
// Target compiled after they exist.
//
// Events it cannot apply are dead-lettered for this table only: under the
// projection's name for its live table, under DeadLetterKey's scoped name
// for any other (a rebuild's shadow), so that a rebuild abandoned before
// its swap never makes the live table leave events out.
func Compile(ctx context.Context, db DB, schema, name, table string) (*Target, error) {
	return CompileInto(ctx, db, schema, name, schema, table)
}

// CompileInto is Compile for a table in another schema than the log's (a
// snapshot's).
func CompileInto(ctx context.Context, db DB, schema, name, targetSchema, table string) (*Target, error) {
	p, ok := projectionByName(name)
	if !ok {
		return nil, fmt.Errorf("unknown projection %q", name)
	}
	return compile(ctx, db, schema, p, targetSchema, table, DeadLetterKey(p, table))
}

// DeadLetterKey is the dead_letters.projection under which a fold into
// table records and leaves out events: the projection's name for its live
// table, "<projection>@<table>" for any other.
func DeadLetterKey(p Projection, table string) string {
	if table == p.Table {
		return p.Name
	}
	return p.Name + "@" + table
}

// CompileWithDeadKey is Compile with the dead-letter key given.
func CompileWithDeadKey(ctx context.Context, db DB, schema string, p Projection, table, deadKey string) (*Target, error) {
	return compile(ctx, db, schema, p, schema, table, deadKey)
}

// compile compiles p to write targetSchema.table from schema's log.
func compile(ctx context.Context, db DB, schema string, p Projection, targetSchema, table, deadKey string) (*Target, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	cols, err := ReadColumns(ctx, db, targetSchema, table)
	if err != nil {
		return nil, err
	}
	if err := checkColumns(p, table, cols); err != nil {
		return nil, err
	}
	oid, err := TableOID(ctx, db, targetSchema, table)
	if err != nil {
		return nil, err
	}
	return &Target{
		oid:        oid,
		projection: p,
		schema:     schema,
		table:      table,
		columns:    cols,
		deadKey:    deadKey,
		sql:        newSQLGen(p, schema, targetSchema, table, deadKey, cols).statements(),
	}, nil
}

// Projection returns the declaration the target was compiled from.
func (t *Target) Projection() Projection { return t.projection }

// Schema returns the schema the Target writes in.
func (t *Target) Schema() string { return t.schema }

// OID returns the table's oid when the Target was compiled; a different oid
// now means the table was replaced (a rebuild swapped it).
func (t *Target) OID() uint32 { return t.oid }

// Columns returns the table's columns as read at compile time.
func (t *Target) Columns() []Column { return t.columns }

// Table returns the table the target writes.
func (t *Target) Table() string { return t.table }

const columnsSQL = `
select a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> ''
from pg_catalog.pg_attribute a
where a.attrelid = to_regclass($1) and a.attnum > 0 and not a.attisdropped
order by a.attnum`

func ReadColumns(ctx context.Context, db DB, schema, table string) ([]Column, error) {
	rows, err := db.Query(ctx, columnsSQL, pgx.Identifier{schema, table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s.%s: %w", schema, table, err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Column])
	if err != nil {
		return nil, fmt.Errorf("reading columns of %s.%s: %w", schema, table, err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("table %s.%s not found (are migrations applied?)", schema, table)
	}
	return cols, nil
}

// checkColumns makes sure the generated SQL can run against the table.
func checkColumns(p Projection, table string, cols []Column) error {
	want := map[string]string{
		p.Key: "text", colLastEventID: "text", colLastEventSeq: "bigint", colLastEventAt: "timestamp with time zone",
	}
	if p.History {
		for name, typ := range map[string]string{
			colValidFrom: "timestamp with time zone", colValidTo: "timestamp with time zone", colEventType: "text",
			colEventSource: "text", colFoldedSeq: "bigint", colFoldedAt: "timestamp with time zone",
		} {
			want[name] = typ
		}
	}
	for name, typ := range want {
		i := slices.IndexFunc(cols, func(c Column) bool { return c.Name == name })
		if i < 0 || cols[i].Generated || cols[i].Type != typ {
			return fmt.Errorf("table %s needs a non-generated %s column %s", table, typ, name)
		}
	}
	return nil
}

// Apply folds the events at positions (from, to] into the target table,
// inside tx (the caller commits, together with its checkpoint). Events
// older than a row's provenance make that entity be recomputed from its
// whole history, so delivery order never changes the result, and applying
// (a, b] then (b, c] gives the same rows as (a, c].
//
// An event the table refuses as data (SQLSTATE classes 22, 23 and 54, e.g.
// "abc" in a numeric column) is isolated by bisection under savepoints,
// recorded in dead_letters in tx, and left out; the other events apply.
// Other errors are returned and nothing is applied.
//
// Apply sets TimeZone to UTC (so date-only strings like "2025-01-08" are
// read the same way by every run) and turns JIT off, for the rest of tx.
func (t *Target) Apply(ctx context.Context, tx pgx.Tx, from, to int64) (ApplyResult, error) {
	if from >= to {
		return ApplyResult{}, nil
	}
	if err := PrepareTx(ctx, tx); err != nil {
		return ApplyResult{}, err
	}
	res, err := t.ApplyPrepared(ctx, tx, from, to)
	if err != nil {
		return res, err
	}
	b := &pgx.Batch{}
	t.QueueUnknownFields(b, from, to, &res.UnknownFields)
	return res, tx.SendBatch(ctx, b).Close()
}

// ApplyPrepared is Apply for a transaction the caller has already set up
// with PrepareRound (or PrepareTx), outside any savepoint that may roll
// back, so that a round of several projections pays for the settings once;
// and without the sample of unknown fields, which the caller queues with
// QueueUnknownFields in the round trip that ends its step.
func (t *Target) ApplyPrepared(ctx context.Context, tx pgx.Tx, from, to int64) (ApplyResult, error) {
	var res ApplyResult
	if from >= to {
		return res, nil
	}
	if err := t.applyIsolated(ctx, tx, from, to, &res); err != nil {
		return res, err
	}
	return res, t.resolveSetAside(ctx, tx, to)
}

// resolveSetAside applies the events set aside because their entity could
// not be found, once it can (a plan named by an alias that a later event
// introduced, possibly in the same batch), so the live table ends up as a
// rebuild would. Only projections that resolve ids look.
func (t *Target) resolveSetAside(ctx context.Context, tx pgx.Tx, upTo int64) error {
	if !slices.ContainsFunc(t.projection.Sources, func(s Source) bool { return s.Resolve != "" }) {
		return nil
	}
	rows, err := tx.Query(ctx, deadLetterFiles.For(t.schema).SetAside, t.deadKey, upTo)
	if err != nil {
		return fmt.Errorf("listing %s events set aside: %w", t.projection.Name, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return fmt.Errorf("listing %s events set aside: %w", t.projection.Name, err)
	}
	for _, dl := range list {
		ids, err := t.entities(ctx, tx, []int64{dl.Seq})
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue // Still unknown: stays set aside.
		}
		if _, err := t.RetryDeadLetter(ctx, tx, dl, upTo); err != nil {
			return err
		}
	}
	return nil
}

// Recompute rebuilds the rows of the given entities from their events at
// positions up to upTo (normally the projection's checkpoint), inside tx,
// which the caller has set up with PrepareTx or PrepareRound (in a round,
// PrepareTx would replace the round's plan settings). A data error is
// returned, not dead-lettered: the caller decides.
func (t *Target) Recompute(ctx context.Context, tx pgx.Tx, ids []string, upTo int64) (ApplyResult, error) {
	if len(ids) == 0 {
		return ApplyResult{}, nil
	}
	return t.execSavepoint(ctx, tx, upTo, upTo, ids)
}

// PrepareTx sets, for the rest of tx, the settings the fold depends on:
// TimeZone UTC, so date-only strings are read the same by every run; no
// JIT: the fold's cost estimates grow with the log, and compiling a
// statement this size takes longer (100 ms and more) than running a batch;
// and a custom plan for every execution. Outside rounds (dead-letter
// retries, snapshots) PostgreSQL's own choice could, after a few
// executions, cache a generic plan of a fold statement made with
// sequential scans allowed, which the connection's later small rounds
// would then reuse (PrepareRound).
func PrepareTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "select pg_catalog.set_config('TimeZone', 'UTC', true), pg_catalog.set_config('jit', 'off', true), "+
		"pg_catalog.set_config('plan_cache_mode', 'force_custom_plan', true)"); err != nil {
		return fmt.Errorf("preparing the transaction: %w", err)
	}
	return nil
}

// GenericPlanMax is the most positions a fold may cover for PrepareRound to
// have it run on PostgreSQL's generic plan of its statement.
//
// Each fold statement is prepared once per connection, but under the
// default plan_cache_mode PostgreSQL plans it again at every execution
// (a custom plan for the range given): its estimate of the generic plan,
// made without the range, stays above the cheap custom ones. Planning the
// larger folds costs 3 to 20 ms, as much as folding 100 positions, and was
// most of the projector's fixed cost per round. The statements are written
// so that the plan does not hinge on the range (materialized CTEs, one
// index lookup per entity); past this size planning is a small share of
// the fold, and each execution is planned for its range.
const GenericPlanMax = 1000

// PrepareRound is PrepareTx for a transaction whose folds each cover at
// most positions positions. Up to GenericPlanMax, the transaction's
// prepared statements run on their generic plans (planned once per
// connection, and again only when a table they read changes or is
// analyzed), made with sequential scans disabled: a generic plan made
// while a table was small would otherwise scan it whole and keep doing so
// as it grows (the append's duplicate check has the same rule, migration
// 020). Above, every execution gets a custom plan, so no generic plan is
// made in those rounds. Call it once, before any savepoint: settings made
// under a savepoint that rolls back are lost with it.
func PrepareRound(ctx context.Context, tx pgx.Tx, positions int64) error {
	mode, seqscan := "force_custom_plan", "on"
	if positions <= GenericPlanMax {
		mode, seqscan = "force_generic_plan", "off"
	}
	_, err := tx.Exec(ctx, "select pg_catalog.set_config('TimeZone', 'UTC', true), pg_catalog.set_config('jit', 'off', true), "+
		"pg_catalog.set_config('plan_cache_mode', $1, true), pg_catalog.set_config('enable_seqscan', $2, true)", mode, seqscan)
	if err != nil {
		return fmt.Errorf("preparing the transaction: %w", err)
	}
	return nil
}

// applyIsolated applies (from, to]; on a data error it splits the range
// at the middle candidate event until the failing events stand alone, and
// dead-letters them. Applying the halves in order is equivalent to
// applying the whole, so the result is the whole minus the poison.
func (t *Target) applyIsolated(ctx context.Context, tx pgx.Tx, from, to int64, res *ApplyResult) error {
	r, err := t.execSavepoint(ctx, tx, from, to, nil)
	if err == nil {
		res.add(r)
		return nil
	}
	if !eventlog.IsDataError(err) {
		return err
	}
	seqs, cerr := t.candidates(ctx, tx, from, to)
	switch {
	case cerr != nil:
		return cerr
	case len(seqs) == 0:
		return err // Not caused by this range's events: nothing to set aside.
	case len(seqs) == 1:
		dl, derr := RecordDeadLetter(ctx, tx, t.schema, t.deadKey, seqs[0], err)
		if derr != nil {
			return derr
		}
		res.DeadLetters = append(res.DeadLetters, dl)
		return nil
	}
	mid := seqs[len(seqs)/2-1]
	if err := t.applyIsolated(ctx, tx, from, mid, res); err != nil {
		return err
	}
	return t.applyIsolated(ctx, tx, mid, to, res)
}

// execSavepoint runs the fold once under a savepoint, so a failure leaves
// tx usable.
func (t *Target) execSavepoint(ctx context.Context, tx pgx.Tx, from, to int64, force []string) (ApplyResult, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return ApplyResult{}, fmt.Errorf("opening a savepoint: %w", err)
	}
	if force == nil {
		force = []string{}
	}
	var r ApplyResult
	err = sp.QueryRow(ctx, t.sql.apply, from, to, force).Scan(&r.Events, &r.Rows, &r.Recomputed, &r.Unapplied)
	if err != nil {
		_ = sp.Rollback(ctx)
		return ApplyResult{}, fmt.Errorf("projecting %s (%d, %d] into %s: %w", t.projection.Name, from, to, t.table, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return ApplyResult{}, fmt.Errorf("releasing a savepoint: %w", err)
	}
	return r, nil
}

func (t *Target) candidates(ctx context.Context, db DB, from, to int64) ([]int64, error) {
	rows, err := db.Query(ctx, t.sql.candidates, from, to)
	if err != nil {
		return nil, fmt.Errorf("listing %s events in (%d, %d]: %w", t.projection.Name, from, to, err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing %s events in (%d, %d]: %w", t.projection.Name, from, to, err)
	}
	return seqs, nil
}

// entities returns the entity ids the events at seqs are about.
func (t *Target) entities(ctx context.Context, db DB, seqs []int64) ([]string, error) {
	rows, err := db.Query(ctx, t.sql.entities, seqs)
	if err != nil {
		return nil, fmt.Errorf("finding %s entities: %w", t.projection.Name, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("finding %s entities: %w", t.projection.Name, err)
	}
	return ids, nil
}

// QueueUnknownFields queues on b the sample of the newest full object of
// each source in (from, to]; when b runs, its keys that have no column are
// stored in *out (sorted; none if the projection has no full objects).
func (t *Target) QueueUnknownFields(b *pgx.Batch, from, to int64, out *[]string) {
	if t.sql.sample == "" || from >= to {
		return
	}
	b.Queue(t.sql.sample, from, to).Query(func(rows pgx.Rows) error {
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("sampling %s fields: %w", t.projection.Name, err)
		}
		*out = t.unknown(keys)
		return nil
	})
}

// unknown returns the keys that have no column, sorted.
func (t *Target) unknown(keys []string) []string {
	var unknown []string
	for _, k := range keys {
		if slices.ContainsFunc(t.projection.Sources, func(s Source) bool { return s.IDKey == k }) {
			continue // The entity id, in the key column.
		}
		if !slices.ContainsFunc(t.columns, func(c Column) bool { return c.Name == k }) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}

const tableOIDSQL = "select coalesce(to_regclass($1)::oid, 0)"

// TableOID identifies the table now named schema.table (0 if none).
func TableOID(ctx context.Context, db DB, schema, table string) (uint32, error) {
	var oid uint32
	err := db.QueryRow(ctx, tableOIDSQL, pgx.Identifier{schema, table}.Sanitize()).Scan(&oid)
	if err != nil {
		return 0, fmt.Errorf("looking up %s.%s: %w", schema, table, err)
	}
	return oid, nil
}

// QueueTableOID queues TableOID on b, for the table t was compiled for; when
// b runs, the oid is stored in *oid.
func (t *Target) QueueTableOID(b *pgx.Batch, oid *uint32) {
	b.Queue(tableOIDSQL, pgx.Identifier{t.schema, t.table}.Sanitize()).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(oid); err != nil {
			return fmt.Errorf("looking up %s.%s: %w", t.schema, t.table, err)
		}
		return nil
	})
}

// Fold is Apply without its sample of payload fields that have no column
// (which the live projector reports, and which costs a scan of the range
// for a projection with few events): the same statement, rows and dead
// letters.
func (t *Target) Fold(ctx context.Context, tx pgx.Tx, from, to int64) (ApplyResult, error) {
	var res ApplyResult
	if from >= to {
		return res, nil
	}
	if err := PrepareTx(ctx, tx); err != nil {
		return res, err
	}
	err := t.applyIsolated(ctx, tx, from, to, &res)
	return res, err
}
