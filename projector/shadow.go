package projector

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// A rebuild of table T works in T_rebuild (the shadow table, created LIKE
// T without indexes, filled, indexed, then renamed to T) and renames T to
// T_old in the swap, dropping it right after. Both names are dropped at
// the start of a rebuild if a cancelled or crashed one left them.
type shadowNames struct{ live, shadow, old string }

func shadowNamesFor(table string) shadowNames {
	return shadowNames{live: table, shadow: table + "_rebuild", old: table + "_old"}
}

// cleanupTimeout bounds dropping the shadow table after a failure.
const cleanupTimeout = 30 * time.Second

// rebuild is one table's rebuild, run on its own session.
type rebuild struct {
	r       *Rebuilder
	sess    *rebuildSession
	p       Projection
	names   shadowNames
	started time.Time

	conn     *pgx.Conn
	locked   bool // This session holds the table's rebuild lock.
	swapped  bool
	liveCols []fold.Column
	indexes  []indexDef
	target   *fold.Target // Compiled for the shadow table.
	done     int64        // Log positions folded into the shadow table.
	total    int64
	phase    Phase
	res      RebuildResult
}

func (b *rebuild) schema() string { return b.r.cfg.Schema }

func (b *rebuild) ident(table string) string { return pgx.Identifier{b.schema(), table}.Sanitize() }

func (b *rebuild) run(ctx context.Context) (err error) {
	conn, err := b.sess.open(ctx)
	if err != nil {
		return err
	}
	b.conn = conn
	defer func() { b.close(ctx, err) }()
	got, err := tryRebuildLock(ctx, conn, b.schema(), b.p.Table)
	if err != nil {
		return err
	}
	if !got {
		return ErrRebuildRunning
	}
	b.locked = true
	if err := ensureCheckpoints(ctx, conn, b.schema(), []Projection{b.p}); err != nil {
		return err
	}
	if err := checkDependents(ctx, conn, b.schema(), b.names.live); err != nil {
		return err
	}
	if kept, err := b.keepEmpty(ctx); err != nil || kept {
		return err
	}
	if err := b.prepare(ctx); err != nil {
		return err
	}
	fillStart := time.Now()
	if err := b.fill(ctx, 0, b.res.Head); err != nil {
		return err
	}
	b.res.Fill = time.Since(fillStart)
	if err := b.finishShadow(ctx); err != nil {
		return err
	}
	if err := b.catchUp(ctx); err != nil {
		return err
	}
	if err := b.swap(ctx); err != nil {
		return err
	}
	b.dropOld(ctx)
	return b.countRows(ctx)
}

// prepare reads H and the live table's columns and indexes, and creates the
// shadow table with its key index (ON CONFLICT needs it).
func (b *rebuild) prepare(ctx context.Context) error {
	s := b.schema()
	cols, err := fold.ReadColumns(ctx, b.conn, s, b.names.live)
	if err != nil {
		return err
	}
	b.liveCols = cols
	if b.indexes, err = readIndexes(ctx, b.conn, s, b.names.live); err != nil {
		return err
	}
	head, err := readHead(ctx, b.conn, s)
	if err != nil {
		return err
	}
	b.res.Head, b.total = head, head
	b.progress(PhaseFilling, nil)
	if err := pgx.BeginFunc(ctx, b.conn, func(tx pgx.Tx) error { return b.createShadow(ctx, tx) }); err != nil {
		return fmt.Errorf("creating %s: %w", b.names.shadow, err)
	}
	if err := b.createIndexes(ctx, true); err != nil {
		return err
	}
	b.target, err = fold.Compile(ctx, b.conn, s, b.p.Name, b.names.shadow)
	return err
}

// createShadow replaces leftovers of an earlier run by an empty copy of the
// live table: columns with their defaults, generated expressions, storage
// and compression, check constraints; then owner, grants, comment and
// storage parameters, which LIKE does not copy.
func (b *rebuild) createShadow(ctx context.Context, tx pgx.Tx) error {
	if err := b.dropLeftovers(ctx, tx); err != nil {
		return err
	}
	stmt := fmt.Sprintf("create table %s (like %s including all excluding indexes)", b.ident(b.names.shadow), b.ident(b.names.live))
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return err
	}
	return copyTableProps(ctx, tx, b.schema(), b.ident(b.names.live), b.ident(b.names.shadow))
}

// dropLeftovers drops the shadow and old tables a killed run may have left,
// and the shadow's dead letters.
func (b *rebuild) dropLeftovers(ctx context.Context, tx pgx.Tx) error {
	for _, name := range []string{b.names.old, b.names.shadow} {
		if _, err := tx.Exec(ctx, "drop table if exists "+b.ident(name)); err != nil {
			return err
		}
	}
	return b.forgetShadowDeadLetters(ctx, tx)
}

// fill folds the log positions (from, to] into the shadow table, ChunkSize
// at a time, each chunk in its own transaction. Chunks give the same rows
// as one fold: applying (a, b] then (b, c] equals applying (a, c].
func (b *rebuild) fill(ctx context.Context, from, to int64) error {
	for from < to {
		end := min(from+b.chunkSize(), to)
		if err := b.applyTx(ctx, from, end); err != nil {
			return err
		}
		from, b.done = end, end
		b.progress(b.phase, nil)
	}
	return nil
}

func (b *rebuild) applyTx(ctx context.Context, from, to int64) error {
	tx, err := b.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning a fill transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	res, err := b.target.Fold(ctx, tx, from, to)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing %s (%d, %d]: %w", b.names.shadow, from, to, err)
	}
	b.add(res)
	return nil
}

func (b *rebuild) add(res fold.ApplyResult) {
	b.res.Events += res.Events
	b.res.DeadLetters = append(b.res.DeadLetters, res.DeadLetters...)
	for _, dl := range res.DeadLetters {
		b.r.cfg.Logger.Warn("event dead-lettered during rebuild", slog.String("projection", b.p.Name),
			slog.Int64("seq", dl.Seq), slog.String("event_id", dl.EventID), slog.String("sqlstate", dl.SQLState), slog.String("error", dl.LogError()))
	}
}

// finishShadow gives the filled table statistics and its other indexes:
// building an index once is faster than maintaining it row by row.
func (b *rebuild) finishShadow(ctx context.Context) error {
	b.progress(PhaseIndexing, nil)
	if _, err := b.conn.Exec(ctx, "analyze "+b.ident(b.names.shadow)); err != nil {
		return fmt.Errorf("analyzing %s: %w", b.names.shadow, err)
	}
	return b.createIndexes(ctx, false)
}

// createIndexes builds the live table's primary-key or unique indexes
// (keys true) or the others on the shadow table, under temporary names.
func (b *rebuild) createIndexes(ctx context.Context, keys bool) error {
	for _, d := range b.indexes {
		if (d.Constraint != "") != keys {
			continue
		}
		for _, stmt := range d.createOn(b.ident(b.names.shadow)) {
			if _, err := b.conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("copying index %s: %w", d.Name, err)
			}
		}
	}
	return nil
}

func (b *rebuild) countRows(ctx context.Context) error {
	err := b.conn.QueryRow(ctx, "select count(*) from "+b.ident(b.names.live)).Scan(&b.res.Rows)
	if err != nil {
		return fmt.Errorf("counting rows: %w", err)
	}
	return nil
}

func (b *rebuild) progress(phase Phase, err error) {
	b.phase = phase
	b.r.report(RebuildProgress{Projection: b.p.Name, Table: b.p.Table, Phase: phase,
		Done: b.done, Total: max(b.total, b.done), Started: b.started, Err: err})
}

// close drops the shadow table unless it was swapped in, then releases
// the rebuild lock: after a rebuild that succeeded, by unlocking, so the
// next table's rebuild reuses the session; after one that failed, by
// ending the session (a cancelled statement may have left it unusable).
func (b *rebuild) close(ctx context.Context, err error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if b.locked && !b.swapped {
		b.dropShadow(cctx)
	}
	if err == nil && b.locked && unlockRebuild(cctx, b.conn, b.schema(), b.p.Table) == nil {
		return
	}
	b.sess.close(cctx)
}

// rebuildSession is the session a Rebuild call's tables are rebuilt on,
// one after the other: opening one costs more than rebuilding an empty
// table.
type rebuildSession struct {
	r    *Rebuilder
	conn *pgx.Conn
}

// open returns the session, connecting if it has none or it was closed.
func (s *rebuildSession) open(ctx context.Context) (*pgx.Conn, error) {
	if s.conn != nil && !s.conn.IsClosed() {
		return s.conn, nil
	}
	conn, err := s.r.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

// close ends the session, if open; the next open connects again.
func (s *rebuildSession) close(ctx context.Context) {
	if s.conn != nil {
		_ = s.conn.Close(ctx)
		s.conn = nil
	}
}

// dropShadow drops the shadow table, holding the table's rebuild lock so
// another rebuild's shadow is never dropped. Cancelling a statement may
// have closed the rebuild's session (and released the lock with it): then
// a new session takes the lock again, or leaves the table to the next
// rebuild, which drops it first.
func (b *rebuild) dropShadow(ctx context.Context) {
	conn := b.conn
	if conn.IsClosed() {
		c, err := b.r.connect(ctx)
		if err != nil {
			b.r.cfg.Logger.Warn("could not drop the shadow table; the next rebuild will", slog.String("table", b.names.shadow), slog.String("error", err.Error()))
			return
		}
		defer func() { _ = c.Close(ctx) }()
		if got, err := tryRebuildLock(ctx, c, b.schema(), b.p.Table); err != nil || !got {
			return
		}
		conn = c
	}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "drop table if exists "+b.ident(b.names.shadow)); err != nil {
			return err
		}
		return b.forgetShadowDeadLetters(ctx, tx)
	})
	if err != nil {
		b.r.cfg.Logger.Warn("could not drop the shadow table; the next rebuild will", slog.String("table", b.names.shadow), slog.String("error", err.Error()))
	}
}

// forgetShadowDeadLetters deletes the dead letters recorded for the shadow
// table (by this rebuild, or one abandoned earlier): they describe a table
// that will never be swapped in.
func (b *rebuild) forgetShadowDeadLetters(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, sqlFor(b.schema()).ForgetDeadLetters, fold.DeadLetterKey(b.p, b.names.shadow))
	if err != nil {
		return fmt.Errorf("forgetting %s's dead letters: %w", b.names.shadow, err)
	}
	return nil
}

// indexDef is an index of the live table, as PostgreSQL prints it.
type indexDef struct {
	OID  int64
	Name string
	Def  string // pg_get_indexdef: CREATE [UNIQUE] INDEX name ON schema.table USING …
	// Constraint is "p" or "u" for the index of a primary key or unique
	// constraint, else "".
	Constraint string
}

// tempName is the index's name on the shadow table until the swap; oldName
// its name on the old table after.
func (d indexDef) tempName() string { return fmt.Sprintf("orb_rebuild_%d", d.OID) }
func (d indexDef) oldName() string  { return fmt.Sprintf("orb_old_%d", d.OID) }

// createOn returns the statements building the same index on table.
func (d indexDef) createOn(table string) []string {
	head, tail, _ := strings.Cut(d.Def, " USING ") // Checked by readIndexes.
	unique := ""
	if strings.HasPrefix(head, "CREATE UNIQUE INDEX ") {
		unique = "unique "
	}
	name := pgx.Identifier{d.tempName()}.Sanitize()
	stmts := []string{fmt.Sprintf("create %sindex %s on %s using %s", unique, name, table, tail)}
	switch d.Constraint {
	case "p":
		stmts = append(stmts, fmt.Sprintf("alter table %s add constraint %s primary key using index %s", table, name, name))
	case "u":
		stmts = append(stmts, fmt.Sprintf("alter table %s add constraint %s unique using index %s", table, name, name))
	}
	return stmts
}

// indexDefPattern is what createOn can copy: a plain index on a table.
var indexDefPattern = regexp.MustCompile(`^CREATE (UNIQUE )?INDEX \S+ ON \S+ USING `)

// readIndexes returns the indexes of table, each with the constraint it
// backs (indexes.sql).
func readIndexes(ctx context.Context, db DB, schema, table string) ([]indexDef, error) {
	rows, err := db.Query(ctx, sqlFor(schema).Indexes, pgx.Identifier{schema, table}.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("reading indexes of %s: %w", table, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[indexDef])
	if err != nil {
		return nil, fmt.Errorf("reading indexes of %s: %w", table, err)
	}
	for _, d := range list {
		if d.Constraint == "x" || !indexDefPattern.MatchString(d.Def) {
			return nil, fmt.Errorf("index %s of %s cannot be copied to a shadow table: %s", d.Name, table, d.Def)
		}
	}
	return list, nil
}

// checkDependents refuses to rebuild a table that views, foreign keys,
// triggers, row security policies or publications name: they would follow
// the old table or be lost. Drop them, rebuild, and create them again.
func checkDependents(ctx context.Context, db DB, schema, table string) error {
	rows, err := db.Query(ctx, sqlFor(schema).Dependents, pgx.Identifier{schema, table}.Sanitize())
	if err != nil {
		return fmt.Errorf("checking what depends on %s: %w", table, err)
	}
	deps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("checking what depends on %s: %w", table, err)
	}
	if len(deps) > 0 {
		return fmt.Errorf("%s cannot be swapped: %s would not follow the new table; drop them, rebuild, then create them again",
			table, strings.Join(deps, ", "))
	}
	return nil
}

// copyTableProps gives shadow the grants, comment, storage parameters and
// owner of live (table_props.sql).
func copyTableProps(ctx context.Context, tx pgx.Tx, schema, live, shadow string) error {
	rows, err := tx.Query(ctx, sqlFor(schema).TableProps, live, shadow)
	if err != nil {
		return fmt.Errorf("reading the grants and owner of %s: %w", live, err)
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("reading the grants and owner of %s: %w", live, err)
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("copying %q: %w", stmt, err)
		}
	}
	return nil
}

// chunkSize is ChunkSize, but a history fold keeps every event's object
// while it runs: it is cut into batches the size of the live projector's.
func (b *rebuild) chunkSize() int64 {
	if b.p.History {
		return min(b.r.cfg.ChunkSize, fold.HistoryChunkMax)
	}
	return b.r.cfg.ChunkSize
}
