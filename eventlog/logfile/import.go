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

// Import appends the file r (written by Export) to the empty log of
// cfg.Schema, in one transaction: every event keeps its position, ids,
// times, source and signing headers, and its body byte for byte (the
// payload is parsed from it, as on append). The log head moves to the last
// position. It refuses a log that is not empty (ErrNotEmpty), a file of
// another format, and positions that do not increase; on any error nothing
// is imported.
func Import(ctx context.Context, db eventlog.DB, r io.Reader, cfg ImportConfig) (Progress, error) {
	p := Progress{Started: time.Now()}
	br := bufio.NewReaderSize(r, 1<<20)
	if err := readHeader(br); err != nil {
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
	src := &recordSource{r: br, progress: &p, cfg: cfg, line: 1}
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
	"resource_id", "orb_timestamp", "orb_signature", "body_zstd", "payload"}

func readHeader(br *bufio.Reader) error {
	line, err := br.ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("reading the header line: %w", err)
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil || h.Format != Format {
		return fmt.Errorf("line 1 is not an %s header: not a file written by 'orb-sync export'", Format)
	}
	if h.Version != Version {
		return fmt.Errorf("file format version %d; this binary reads version %d", h.Version, Version)
	}
	return nil
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
	line     int
	last     int64
	rec      Record
	err      error
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
	switch {
	case s.rec.Seq <= s.last:
		return fmt.Errorf("position %d does not follow %d", s.rec.Seq, s.last)
	case s.rec.EventID == "" || s.rec.Type == "":
		return errors.New("no event_id or type")
	case len(s.rec.Body) == 0:
		return errors.New("no body")
	}
	return nil
}

func (s *recordSource) Values() ([]any, error) {
	r := &s.rec
	// Stored as the appender stores it: the body compressed by us, the
	// payload parsed from it.
	compressed, err := eventlog.CompressBody(r.Body)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", s.line, err)
	}
	return []any{r.Seq, r.EventID, r.Type, r.CreatedAt, r.ReceivedAt, r.Source, r.ResourceType, r.ResourceID,
		r.OrbTimestamp, r.OrbSignature, compressed, json.RawMessage(r.Body)}, nil
}

func (s *recordSource) Err() error { return s.err }
