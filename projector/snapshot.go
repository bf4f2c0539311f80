package projector

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
	"github.com/orb-sync/orb-sync/projector/internal/fold"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// SnapshotConfig says what Snapshot freezes and where.
type SnapshotConfig struct {
	// Schema holds the log and tables; Into is the new schema to create.
	Schema, Into string
	// Exactly one of AsOf (Orb time: every table as its history has it at
	// that instant) and AtSeq (log position: every table folded from the
	// log up to it) is set.
	AsOf  *time.Time
	AtSeq int64
	// Readers are roles granted USAGE on the schema and SELECT on its tables.
	Readers []string
}

// SnapshotResult says what was frozen.
type SnapshotResult struct {
	Into string
	// Head is the log position the snapshot was taken at (its log state).
	Head int64
	// Rows per table, in catalog order.
	Tables []SnapshotTable
}

// SnapshotTable is one frozen table.
type SnapshotTable struct {
	Table string
	Rows  int64
}

// rolePattern is what a reader role may be named (an unquoted identifier).
var rolePattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// ErrSchemaExists is returned when the snapshot's schema already exists.
var ErrSchemaExists = errors.New("schema already exists")

// Snapshot creates cfg.Into with a copy of every current-state table as it
// stood at cfg.AsOf or cfg.AtSeq, plus a _snapshot row saying what it is,
// in one transaction on one REPEATABLE READ view of the log. The tables are
// read-only by grants: INSERT, UPDATE, DELETE and TRUNCATE are revoked from
// everyone, the owner included (a superuser is not bound by grants).
//
// As of a time, versioned tables come from their as-of functions and
// append-only tables (alerts, balance transactions) keep the rows created
// by then; at a position, each table is folded from the log up to it by
// its projection, as a rebuild would.
func Snapshot(ctx context.Context, db eventlog.TxBeginner, cfg SnapshotConfig) (SnapshotResult, error) {
	res := SnapshotResult{Into: cfg.Into}
	if err := checkSnapshotConfig(cfg); err != nil {
		return res, err
	}
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return res, fmt.Errorf("beginning the snapshot: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fold.PrepareTx(ctx, tx); err != nil {
		return res, err
	}
	if _, err := tx.Exec(ctx, sqlFor(cfg.Schema).LiftStatementTimeout); err != nil {
		return res, fmt.Errorf("lifting statement_timeout: %w", err)
	}
	if res.Head, err = readHead(ctx, tx, cfg.Schema); err != nil {
		return res, err
	}
	if cfg.AsOf == nil && cfg.AtSeq > res.Head {
		return res, fmt.Errorf("--at-seq %d is beyond the log head %d", cfg.AtSeq, res.Head)
	}
	if err := createSnapshotSchema(ctx, tx, cfg); err != nil {
		return res, err
	}
	for _, p := range fold.Projections() {
		if p.History {
			continue
		}
		rows, err := snapshotTable(ctx, tx, cfg, p)
		if err != nil {
			return res, fmt.Errorf("freezing %s: %w", p.Table, err)
		}
		res.Tables = append(res.Tables, SnapshotTable{Table: p.Table, Rows: rows})
	}
	if err := recordSnapshot(ctx, tx, cfg, res.Head); err != nil {
		return res, err
	}
	if err := freezeGrants(ctx, tx, cfg); err != nil {
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("committing the snapshot: %w", err)
	}
	return res, nil
}

func checkSnapshotConfig(cfg SnapshotConfig) error {
	var errs []error
	if err := orbsql.ValidateSchema(cfg.Into); err != nil {
		errs = append(errs, fmt.Errorf("snapshot schema: %w", err))
	}
	if cfg.Into == cfg.Schema {
		errs = append(errs, errors.New("the snapshot needs a schema of its own"))
	}
	if (cfg.AsOf == nil) == (cfg.AtSeq <= 0) {
		errs = append(errs, errors.New("give a time (as of) or a positive log position (at seq), not both"))
	}
	for _, r := range cfg.Readers {
		if !rolePattern.MatchString(r) {
			errs = append(errs, fmt.Errorf("reader role %q must match %s", r, rolePattern))
		}
	}
	return errors.Join(errs...)
}

func createSnapshotSchema(ctx context.Context, tx pgx.Tx, cfg SnapshotConfig) error {
	var exists bool
	if err := tx.QueryRow(ctx, sqlFor(cfg.Schema).SchemaExists, cfg.Into).Scan(&exists); err != nil {
		return fmt.Errorf("checking schema %s: %w", cfg.Into, err)
	}
	if exists {
		return fmt.Errorf("%w: %s (a snapshot is never written over; drop it or choose another name)", ErrSchemaExists, cfg.Into)
	}
	if _, err := tx.Exec(ctx, "create schema "+pgx.Identifier{cfg.Into}.Sanitize()); err != nil {
		return fmt.Errorf("creating schema %s: %w", cfg.Into, err)
	}
	return nil
}

// snapshotTable creates Into.<table> like the live table (columns,
// generated join keys, indexes) and fills it.
func snapshotTable(ctx context.Context, tx pgx.Tx, cfg SnapshotConfig, p Projection) (int64, error) {
	live, frozen := pgx.Identifier{cfg.Schema, p.Table}.Sanitize(), pgx.Identifier{cfg.Into, p.Table}.Sanitize()
	if _, err := tx.Exec(ctx, fmt.Sprintf("create table %s (like %s including all)", frozen, live)); err != nil {
		return 0, err
	}
	if cfg.AsOf == nil {
		t, err := fold.CompileInto(ctx, tx, cfg.Schema, p.Name, cfg.Into, p.Table)
		if err != nil {
			return 0, err
		}
		res, err := t.Fold(ctx, tx, 0, cfg.AtSeq)
		return res.Rows, err
	}
	cols, err := fold.ReadColumns(ctx, tx, cfg.Into, p.Table)
	if err != nil {
		return 0, err
	}
	var names []string
	for _, c := range cols {
		if !c.Generated {
			names = append(names, pgx.Identifier{c.Name}.Sanitize())
		}
	}
	from := fmt.Sprintf("%s where last_event_at <= $1", live)
	if historyOfTable(p.Table) {
		if err := checkLive(ctx, tx, cfg.Schema, p.Table+"_history"); err != nil {
			return 0, fmt.Errorf("%w (or freeze by position, --at-seq, which folds the log)", err)
		}
		from = fmt.Sprintf("%s($1)", pgx.Identifier{cfg.Schema, p.Table + "_as_of"}.Sanitize())
	}
	list := strings.Join(names, ", ")
	tag, err := tx.Exec(ctx, fmt.Sprintf("insert into %s (%s) select %s from %s", frozen, list, list, from), *cfg.AsOf)
	return tag.RowsAffected(), err
}

func historyOfTable(table string) bool {
	_, ok := fold.ProjectionByName(table + "_history")
	return ok
}

func recordSnapshot(ctx context.Context, tx pgx.Tx, cfg SnapshotConfig, head int64) error {
	info := pgx.Identifier{cfg.Into, "_snapshot"}.Sanitize()
	var atSeq *int64
	if cfg.AsOf == nil {
		atSeq = &cfg.AtSeq
	}
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{"create table " + info + " (source_schema text not null, as_of timestamptz, at_seq bigint, " +
			"log_head bigint not null, taken_at timestamptz not null default now())", nil},
		{"insert into " + info + " (source_schema, as_of, at_seq, log_head) values ($1, $2, $3, $4)",
			[]any{cfg.Schema, cfg.AsOf, atSeq, head}},
	} {
		if _, err := tx.Exec(ctx, stmt.sql, stmt.args...); err != nil {
			return fmt.Errorf("recording the snapshot: %w", err)
		}
	}
	what := fmt.Sprintf("at log position %d", cfg.AtSeq)
	if cfg.AsOf != nil {
		what = "as of " + cfg.AsOf.UTC().Format(time.RFC3339Nano)
	}
	comment := fmt.Sprintf("orb-sync snapshot of %s %s (log head %d); read-only", cfg.Schema, what, head)
	_, err := tx.Exec(ctx, fmt.Sprintf("comment on schema %s is '%s'", pgx.Identifier{cfg.Into}.Sanitize(),
		strings.ReplaceAll(comment, "'", "''")))
	return err
}

// freezeGrants makes the snapshot read-only for everyone but superusers.
func freezeGrants(ctx context.Context, tx pgx.Tx, cfg SnapshotConfig) error {
	schema := pgx.Identifier{cfg.Into}.Sanitize()
	stmts := []string{
		"revoke all on all tables in schema " + schema + " from public",
		"revoke create on schema " + schema + " from public",
		"revoke insert, update, delete, truncate, references, trigger on all tables in schema " + schema + " from current_user",
	}
	for _, r := range cfg.Readers {
		role := pgx.Identifier{r}.Sanitize()
		stmts = append(stmts, "grant usage on schema "+schema+" to "+role,
			"grant select on all tables in schema "+schema+" to "+role)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("making the snapshot read-only (%s): %w", s, err)
		}
	}
	return nil
}
