package logfile

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orb-sync/orb-sync/eventlog"
)

// ErrNotEmpty is returned by Import when the schema's log already holds
// events: an import never merges into a live log.
var ErrNotEmpty = errors.New("the event log is not empty")

// maxLine bounds one line: the receiver's largest body, base64, plus the
// other fields.
const maxLine = 64 << 20

// ImportConfig says where Import writes.
type ImportConfig struct {
	Schema        string
	OnProgress    func(Progress)
	ProgressEvery int64
}

// Import appends the file r (written by Export, either version) to the
// empty log of cfg.Schema, in one transaction: every event keeps its
// position, ids, times, source and signing headers, and its body byte for
// byte (the payload is parsed from it and its refs built, as on append).
// A stored frame (version 2) is decompressed once, which checks its
// content size and checksum, and kept as it came; a plain body is
// compressed as the appender would. The log head moves to the last
// position. It refuses a log that is not empty (ErrNotEmpty), a file of
// another format, positions that do not increase and a frame that does
// not decode; on any error nothing is imported.
func Import(ctx context.Context, db eventlog.DB, r io.Reader, cfg ImportConfig) (Progress, error) {
	p := Progress{Started: time.Now()}
	br := bufio.NewReaderSize(r, 1<<20)
	version, err := readHeader(br)
	if err != nil {
		return p, err
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return p, fmt.Errorf("beginning the import: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, sqlFiles.For(cfg.Schema).LiftStatementTimeout); err != nil {
		return p, fmt.Errorf("lifting statement_timeout: %w", err)
	}
	if err := lockEmptyLog(ctx, tx, cfg.Schema); err != nil {
		return p, err
	}
	src := &recordSource{r: br, progress: &p, cfg: cfg, line: 1, version: version}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{cfg.Schema, "events"}, importColumns, src)
	if src.err != nil {
		return p, src.err // The reader's error explains the failed COPY.
	}
	if err != nil {
		return p, fmt.Errorf("line %d: %w", src.line, err)
	}
	if _, err := tx.Exec(ctx, sqlFiles.For(cfg.Schema).SetHead, src.last); err != nil {
		return p, fmt.Errorf("moving the log head: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return p, fmt.Errorf("committing the import: %w", err)
	}
	if cfg.OnProgress != nil {
		cfg.OnProgress(p)
	}
	return p, nil
}

var importColumns = []string{"seq", "event_id", "type", "created_at", "received_at", "source", "resource_type",
	"resource_id", "orb_timestamp", "orb_signature", "body_zstd", "payload", "refs"}

// readHeader reads the first line and returns the file's version.
func readHeader(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return 0, fmt.Errorf("reading the header line: %w", err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil || h.Format != Format {
		return 0, fmt.Errorf("line 1 is not an %s header: not a file written by 'orb-sync export'", Format)
	}
	if h.Version != Version && h.Version != VersionPlain {
		return 0, fmt.Errorf("file format version %d; this binary reads versions %d and %d", h.Version, VersionPlain, Version)
	}
	return h.Version, nil
}

// lockEmptyLog takes the log head for the transaction (appends wait) and
// checks the log is empty.
func lockEmptyLog(ctx context.Context, tx pgx.Tx, schema string) error {
	var head int64
	if err := tx.QueryRow(ctx, sqlFiles.For(schema).LockHead).Scan(&head); err != nil {
		return fmt.Errorf("locking the log head of %s (are migrations applied?): %w", schema, err)
	}
	var any bool
	if err := tx.QueryRow(ctx, sqlFiles.For(schema).AnyEvent).Scan(&any); err != nil {
		return fmt.Errorf("checking the log is empty: %w", err)
	}
	if any || head != 0 {
		return fmt.Errorf("%w: schema %s has events up to position %d; import into a new schema (DATABASE_SCHEMA)", ErrNotEmpty, schema, head)
	}
	return nil
}

// recordSource feeds COPY one record per line.
type recordSource struct {
	r        *bufio.Reader
	cfg      ImportConfig
	progress *Progress
	version  int
	line     int
	last     int64
	rec      Record
	// body is the record's body as received: Body, or BodyZstd decoded.
	body []byte
	err  error
}

func (s *recordSource) Next() bool {
	raw, err := s.readLine()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			s.err = err
		}
		return false
	}
	s.line++
	s.rec = Record{}
	if err := json.Unmarshal(raw, &s.rec); err != nil {
		s.err = fmt.Errorf("line %d: %w", s.line, err)
		return false
	}
	if err := s.check(); err != nil {
		s.err = fmt.Errorf("line %d (event %q): %w", s.line, s.rec.EventID, err)
		return false
	}
	s.last = s.rec.Seq
	s.progress.Events++
	s.progress.Bytes += int64(len(raw))
	if s.cfg.OnProgress != nil && s.cfg.ProgressEvery > 0 && s.progress.Events%s.cfg.ProgressEvery == 0 {
		s.cfg.OnProgress(*s.progress)
	}
	return true
}

// readLine returns the next non-empty line, without its newline.
func (s *recordSource) readLine() ([]byte, error) {
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.readLong(line)
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readLong reads the rest of a line longer than the buffer.
func (s *recordSource) readLong(first []byte) ([]byte, error) {
	buf := append([]byte(nil), first...)
	for {
		more, err := s.r.ReadSlice('\n')
		buf = append(buf, more...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("line %d is longer than %d bytes", s.line+1, maxLine)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

func (s *recordSource) check() error {
	r := &s.rec
	switch {
	case r.Seq <= s.last:
		return fmt.Errorf("position %d does not follow %d", r.Seq, s.last)
	case r.EventID == "" || r.Type == "":
		return errors.New("no event_id or type")
	case r.BodyZstd != nil && s.version == VersionPlain:
		return fmt.Errorf("body_zstd in a version %d file", VersionPlain)
	case r.BodyZstd != nil && r.Body != nil:
		return errors.New("both body and body_zstd")
	case r.BodyZstd != nil:
		body, err := eventlog.DecodeBody(nil, r.BodyZstd)
		if err != nil {
			return fmt.Errorf("damaged body: %w", err)
		}
		s.body = body
	case len(r.Body) == 0:
		return errors.New("no body")
	default:
		s.body = r.Body
	}
	if len(s.body) == 0 {
		return errors.New("empty body")
	}
	return nil
}

func (s *recordSource) Values() ([]any, error) {
	r := &s.rec
	// Stored as the appender stores it: the body compressed by us (a
	// frame from the file as it came), the payload parsed from it.
	compressed := r.BodyZstd
	if compressed == nil {
		var err error
		if compressed, err = eventlog.CompressBody(r.Body); err != nil {
			return nil, fmt.Errorf("line %d: %w", s.line, err)
		}
	}
	// refs built here from the body, as the appender builds them: left
	// to the log's trigger, each subscription payload (~54 KB) was walked
	// once more by PostgreSQL's event_refs, which was most of an import's
	// time. Where EventRefs cannot vouch for a body, nil lets the trigger
	// build them, so refs are the same whichever side built them.
	var refs any
	if built, ok := eventlog.EventRefs(s.body); ok && built != nil {
		refs = json.RawMessage(built)
	}
	return []any{r.Seq, r.EventID, r.Type, r.CreatedAt, r.ReceivedAt, r.Source, r.ResourceType, r.ResourceID,
		r.OrbTimestamp, r.OrbSignature, compressed, json.RawMessage(s.body), refs}, nil
}

func (s *recordSource) Err() error { return s.err }
