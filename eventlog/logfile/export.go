package logfile

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/orb-sync/orb-sync/eventlog"
	orbsql "github.com/orb-sync/orb-sync/sql"
)

// ExportConfig selects what Export writes.
type ExportConfig struct {
	Schema string
	// Since and Until, when set, keep events with Since <= created_at <
	// Until (Orb time).
	Since, Until *time.Time
	// PlainBodies writes a version 1 file: every body decompressed and
	// written as received, for readers without zstd (about ten times the
	// bytes, and a third of the speed, on the reference mix). The default,
	// false, writes version 2: each body as stored, one zstd frame.
	PlainBodies bool
	// OnProgress, when set, is called every ProgressEvery events and at the
	// end.
	OnProgress    func(Progress)
	ProgressEvery int64
}

// queries is this package's SQL, in sql/queries/eventlog/logfile/ (see
// package sql for the scheme).
type queries struct {
	LiftStatementTimeout string `sql:"lift_statement_timeout"`
	LockHead             string `sql:"lock_head"`
	AnyEvent             string `sql:"any_event"`
	SetHead              string `sql:"set_head"`
}

var sqlFiles = orbsql.MustQueries[queries]("eventlog/logfile")

// exportColumns are what Export reads of each event. The export's own
// statements stay in Go: their text depends on the bounds given.
const exportColumns = `seq, event_id, type, created_at, received_at, source, resource_type, resource_id,
       orb_timestamp, orb_signature, ` + eventlog.BodyColumns

// Export writes the selected events to w in log order, from one
// REPEATABLE READ snapshot, and returns how many it wrote.
func Export(ctx context.Context, db eventlog.TxBeginner, w io.Writer, cfg ExportConfig) (Progress, error) {
	p := Progress{Started: time.Now()}
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return p, fmt.Errorf("beginning the export: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	q := sqlFiles.For(cfg.Schema)
	if _, err := tx.Exec(ctx, q.LiftStatementTimeout); err != nil {
		return p, fmt.Errorf("lifting statement_timeout: %w", err)
	}
	events := pgx.Identifier{cfg.Schema, "events"}.Sanitize()
	// Only the bounds given: "$1 is null or …" would leave a prepared
	// statement's generic plan a sort of the whole log instead of a walk
	// of the primary key.
	var conds []string
	var args []any
	if cfg.Since != nil {
		args = append(args, *cfg.Since)
		conds = append(conds, fmt.Sprintf("created_at >= $%d", len(args)))
	}
	if cfg.Until != nil {
		args = append(args, *cfg.Until)
		conds = append(conds, fmt.Sprintf("created_at < $%d", len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = "where " + strings.Join(conds, " and ")
	}
	if err := tx.QueryRow(ctx, "select count(*) from "+events+" "+where, args...).Scan(&p.Total); err != nil {
		return p, fmt.Errorf("counting events: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := writeHeader(bw, cfg); err != nil {
		return p, err
	}
	rows, err := tx.Query(ctx, "select "+exportColumns+" from "+events+" "+where+" order by seq", args...)
	if err != nil {
		return p, fmt.Errorf("reading the log: %w", err)
	}
	defer rows.Close()
	var r Record
	var line []byte
	for rows.Next() {
		// The driver's own bytes, valid until the next row: the line is
		// written before that, and a copy would be another 2 KB a row.
		var raw, compressed pgtype.DriverBytes
		if err := rows.Scan(&r.Seq, &r.EventID, &r.Type, &r.CreatedAt, &r.ReceivedAt, &r.Source, &r.ResourceType,
			&r.ResourceID, &r.OrbTimestamp, &r.OrbSignature, &raw, &compressed); err != nil {
			return p, fmt.Errorf("reading the log: %w", err)
		}
		if err := setBody(&r, raw, compressed, cfg.PlainBodies); err != nil {
			return p, fmt.Errorf("event %s (position %d): %w", r.EventID, r.Seq, err)
		}
		line = appendRecord(line[:0], &r)
		if _, err := bw.Write(line); err != nil {
			return p, fmt.Errorf("writing: %w", err)
		}
		p.Events++
		p.Bytes += int64(len(line))
		if cfg.OnProgress != nil && cfg.ProgressEvery > 0 && p.Events%cfg.ProgressEvery == 0 {
			cfg.OnProgress(p)
		}
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("reading the log: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return p, fmt.Errorf("writing: %w", err)
	}
	if cfg.OnProgress != nil {
		cfg.OnProgress(p)
	}
	return p, nil
}

// setBody fills r's body from the body and body_zstd columns: the stored
// frame as is, or, for plain bodies, the bytes it decodes to.
func setBody(r *Record, raw, compressed []byte, plain bool) error {
	r.Body, r.BodyZstd = nil, nil
	if plain {
		body, err := eventlog.DecodeBody(raw, compressed)
		r.Body = body
		return err
	}
	switch {
	case raw != nil && compressed != nil:
		return errors.New("event has both body and body_zstd")
	case raw == nil && compressed == nil:
		return errors.New("event has neither body nor body_zstd")
	}
	r.Body, r.BodyZstd = raw, compressed
	return nil
}

func writeHeader(w io.Writer, cfg ExportConfig) error {
	version := Version
	if cfg.PlainBodies {
		version = VersionPlain
	}
	h, err := json.Marshal(header{Format: Format, Version: version, Schema: cfg.Schema, ExportedAt: time.Now().UTC(),
		Since: cfg.Since, Until: cfg.Until})
	if err != nil {
		return err
	}
	if _, err := w.Write(append(h, '\n')); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

// appendRecord encodes r as one line, as encoding/json would (same keys,
// base64 body) but without reflection: the body dominates, and is encoded
// straight into the line.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, r.Seq, 10)
	b = appendField(b, "event_id", &r.EventID)
	b = appendField(b, "type", &r.Type)
	b = append(b, `,"created_at":"`...)
	b = r.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","received_at":"`...)
	b = r.ReceivedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "source", &r.Source)
	b = appendField(b, "resource_type", r.ResourceType)
	b = appendField(b, "resource_id", r.ResourceID)
	b = appendField(b, "orb_timestamp", r.OrbTimestamp)
	b = appendField(b, "orb_signature", r.OrbSignature)
	if r.BodyZstd != nil {
		b = append(b, `,"body_zstd":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.BodyZstd)
	} else {
		b = append(b, `,"body":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Body)
	}
	return append(b, "\"}\n"...)
}

// appendField appends ,"name":value with value a JSON string or null.
func appendField(b []byte, name string, value *string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	if value == nil {
		return append(b, "null"...)
	}
	return appendString(b, *value)
}

// appendString appends s as a JSON string: as is between quotes when it
// is printable ASCII without quote or backslash (ids, types, signatures),
// else through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // A string always encodes.
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
