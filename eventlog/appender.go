package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is one entry to append to the log.
type Event struct {
	Envelope
	// Source is "webhook" (default), "snapshot" or "recovered".
	Source string
	// Body is stored byte for byte; it must be the JSON the envelope came from.
	Body []byte
	// OrbTimestamp and OrbSignature are the signing headers, kept so the
	// event can be re-verified later; empty for events not delivered by Orb.
	OrbTimestamp string
	OrbSignature string

	// compressed is Body as stored, and refs its events.refs (EventRefs),
	// when Append built them already (in the caller's goroutine, so the
	// single writer doesn't).
	compressed []byte
	refs       eventRefs
}

// parallelPrepareBytes is the body size from which Prepare compresses and
// builds refs on two goroutines at once: for a ~54 KB subscription they
// take ~0.1 and ~0.3 ms of a webhook's latency one after the other. For
// smaller bodies a goroutine costs more than it saves.
const parallelPrepareBytes = 16 << 10

// Prepare builds what the append stores besides the body itself: the
// body compressed (events.body_zstd) and its refs (EventRefs), so that
// the single writer does not. Append calls it; a caller may call it
// earlier, on its own goroutine, to overlap it with other work on the
// same body (the webhook receiver does, with the envelope's parse).
// Calling it again does nothing. An error wraps ErrUnavailable.
func (ev *Event) Prepare() error {
	if err := ev.prepare(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// prepare is Prepare with CompressBody's error as it is.
func (ev *Event) prepare() error {
	if ev.compressed != nil && ev.refs.built {
		return nil
	}
	var refs eventRefs
	var wg sync.WaitGroup
	if len(ev.Body) >= parallelPrepareBytes {
		wg.Go(func() { refs = newEventRefs(ev.Body) })
	} else {
		refs = newEventRefs(ev.Body)
	}
	compressed, err := CompressBody(ev.Body)
	wg.Wait()
	if err != nil {
		return err
	}
	ev.compressed, ev.refs = compressed, refs
	return nil
}

// Result says what happened to one appended event.
type Result struct {
	// Seq is the log position given to the event; 0 for a duplicate.
	Seq int64
	// Duplicate is true when an event with the same id was already stored;
	// nothing new was written.
	Duplicate bool
}

var (
	// ErrUnavailable wraps failures to reach or write the database: nothing
	// was acknowledged and the sender should retry later.
	ErrUnavailable = errors.New("event log unavailable")
	// ErrUnstorable wraps an event PostgreSQL refuses as data (for example a
	// JSON string holding \u0000, which jsonb cannot represent). Retrying
	// will not help.
	ErrUnstorable = errors.New("event cannot be stored")
	// ErrStopped is returned by Append after Stop.
	ErrStopped = errors.New("appender stopped")
)

// Defaults for AppenderConfig.
const (
	maxBatchEventsDefault = 256
	maxBatchBytesDefault  = 16 << 20
	writeTimeoutDefault   = 10 * time.Second
)

// AppenderConfig configures an Appender.
type AppenderConfig struct {
	// Schema holds the log. Required.
	Schema string
	// MaxBatchEvents caps the events committed together. Defaults to 256.
	MaxBatchEvents int
	// MaxBatchBytes caps the body bytes committed together, so one commit
	// never carries an unbounded amount of data. Defaults to 16 MiB.
	MaxBatchBytes int
	// Writers is the number of append transactions in flight at once.
	// They still commit one at a time (the log head lock), but a second
	// writer's batch already waits at the lock, parsed and sent, when the
	// first commits, instead of being collected and sent only then.
	// Defaults to 1.
	Writers int
	// WriteTimeout bounds one batch's transaction. Defaults to 10 seconds.
	WriteTimeout time.Duration
	// Logger receives write failures. Defaults to slog.Default().
	Logger *slog.Logger
	// Metrics, if set, observes batch sizes and commit times.
	Metrics *Metrics
}

func (c AppenderConfig) withDefaults() AppenderConfig {
	if c.MaxBatchEvents <= 0 {
		c.MaxBatchEvents = maxBatchEventsDefault
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = maxBatchBytesDefault
	}
	if c.Writers <= 0 {
		c.Writers = 1
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = writeTimeoutDefault
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Appender appends events to the log with group commit: a single writer
// goroutine takes every event queued while the previous commit was in flight
// and commits them in one transaction. Each caller gets its answer only after
// that commit, so nothing is acknowledged before it is durable.
type Appender struct {
	cfg     AppenderConfig
	pool    *pgxpool.Pool
	queries queries
	queue   chan *appendRequest

	startOnce sync.Once
	stopOnce  sync.Once
	stop      chan struct{}
	done      chan struct{}

	// enqueue is held (shared) by Append while it checks stopped and puts
	// its request on the queue, and exclusively by Stop while it sets
	// stopped. So once Stop has set it, every request that will ever be
	// queued is already queued, and the writer's drain answers it.
	enqueue  sync.RWMutex
	stopped  bool
	stopping chan struct{} // Closed first by Stop: frees Appends waiting on a full queue.

	// testHookEnqueue, if set (tests only), runs between Append's check
	// that the appender is running and its queueing: the race window.
	testHookEnqueue func()
}

type appendRequest struct {
	event Event
	reply chan appendReply // buffered(1): the writer never blocks on a reply
}

type appendReply struct {
	result Result
	err    error
}

// NewAppender returns an Appender writing to pool. Call Start before Append.
func NewAppender(pool *pgxpool.Pool, cfg AppenderConfig) (*Appender, error) {
	if cfg.Schema == "" {
		return nil, errors.New("appender: Schema is required")
	}
	cfg = cfg.withDefaults()
	return &Appender{
		cfg:      cfg,
		pool:     pool,
		queries:  sqlFiles.For(cfg.Schema),
		queue:    make(chan *appendRequest, cfg.MaxBatchEvents),
		stop:     make(chan struct{}),
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
	}, nil
}

// Start launches the writer goroutines. Calling it twice is harmless.
func (a *Appender) Start() {
	a.startOnce.Do(func() {
		var wg sync.WaitGroup
		for range a.cfg.Writers {
			wg.Go(a.run)
		}
		go func() { wg.Wait(); close(a.done) }()
	})
}

// Stop waits for queued events to be written, then stops the writer. It may
// be called twice, or before Start. Every Append is answered: those queued
// before Stop with their outcome, later ones with ErrStopped.
func (a *Appender) Stop() {
	a.stopOnce.Do(func() {
		close(a.stopping)
		a.enqueue.Lock()
		a.stopped = true
		a.enqueue.Unlock()
		close(a.stop)
	})
	a.startOnce.Do(func() { close(a.done) }) // Never started: nothing to wait for.
	<-a.done
	// Queued to an appender that was never started: refuse them.
	for {
		select {
		case req := <-a.queue:
			req.reply <- appendReply{err: ErrStopped}
		default:
			return
		}
	}
}

// Append queues ev for the next group commit and waits for its outcome.
// If ctx ends first, Append returns ctx's error; the event may still be
// committed, which is safe because Orb retries and duplicates are dropped.
func (a *Appender) Append(ctx context.Context, ev Event) (Result, error) {
	if err := ev.Prepare(); err != nil {
		return Result{}, err
	}
	req := &appendRequest{event: ev, reply: make(chan appendReply, 1)}
	if err := a.enqueueRequest(ctx, req); err != nil {
		return Result{}, err
	}
	select {
	case r := <-req.reply:
		return r.result, r.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// enqueueRequest puts req on the queue unless Stop has begun. Stop waits
// for the read lock to be released before the writer's final drain, so a
// request is never queued after it.
func (a *Appender) enqueueRequest(ctx context.Context, req *appendRequest) error {
	a.enqueue.RLock()
	defer a.enqueue.RUnlock()
	if a.stopped {
		return ErrStopped
	}
	if a.testHookEnqueue != nil {
		a.testHookEnqueue()
	}
	select {
	case a.queue <- req:
		return nil
	case <-a.stopping:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Appender) run() {
	for {
		var first *appendRequest
		select {
		case first = <-a.queue:
		case <-a.stop:
			a.drain()
			return
		}
		a.writeBatch(a.collect(first))
	}
}

// collect takes first plus whatever else is already queued, within limits.
func (a *Appender) collect(first *appendRequest) []*appendRequest {
	batch := []*appendRequest{first}
	size := len(first.event.Body)
	for len(batch) < a.cfg.MaxBatchEvents && size < a.cfg.MaxBatchBytes {
		select {
		case req := <-a.queue:
			batch = append(batch, req)
			size += len(req.event.Body)
		default:
			return batch
		}
	}
	return batch
}

// drain writes what was queued before Stop, so accepted work is answered.
func (a *Appender) drain() {
	for {
		select {
		case req := <-a.queue:
			a.writeBatch(a.collect(req))
		default:
			return
		}
	}
}

func (a *Appender) writeBatch(batch []*appendRequest) {
	events := make([]Event, len(batch))
	for i, req := range batch {
		events[i] = req.event
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.WriteTimeout)
	defer cancel()
	start := time.Now()
	results, err := a.AppendBatch(ctx, events)
	a.cfg.Metrics.observeBatch(len(batch), time.Since(start), err)
	var partial *BatchError
	if errors.As(err, &partial) {
		// Some events were refused as data; the rest are stored and must
		// be acknowledged as such.
		results, err = partial.Results, nil
		for i, req := range batch {
			if r := results[i]; r.Seq == 0 && !r.Duplicate {
				req.reply <- appendReply{err: partial.Err}
				continue
			}
			req.reply <- appendReply{result: results[i]}
		}
		return
	}
	for i, req := range batch {
		if err != nil {
			req.reply <- appendReply{err: err}
			continue
		}
		req.reply <- appendReply{result: results[i]}
	}
}

// AppendBatch appends events in one transaction, bypassing the queue (the
// backfill path uses it directly). Results are in the order of events. An
// event whose id is already stored, or repeated within events, is a
// duplicate. If PostgreSQL refuses one event as data, the others are
// retried one by one so a single bad event cannot block its neighbours.
func (a *Appender) AppendBatch(ctx context.Context, events []Event) ([]Result, error) {
	results, err := a.appendOnce(ctx, events)
	if err == nil || !IsDataError(err) || len(events) == 1 {
		return results, classify(err)
	}
	// Isolate the refused event(s): all-or-nothing per event from here.
	a.cfg.Logger.WarnContext(ctx, "batch refused as data; appending one by one", slog.Int("events", len(events)), slog.String("error", err.Error()))
	results = make([]Result, len(events))
	var firstErr error
	for i := range events {
		r, err := a.appendOnce(ctx, events[i:i+1])
		if err != nil {
			if !IsDataError(err) {
				return nil, classify(err)
			}
			if firstErr == nil {
				firstErr = classify(err)
			}
			continue
		}
		results[i] = r[0]
	}
	if firstErr != nil && len(events) > 1 {
		// Callers of a multi-event batch learn which events failed from the
		// zero Seq and Duplicate=false of their Results.
		return results, &BatchError{Results: results, Err: firstErr}
	}
	return results, firstErr
}

// BatchError reports a batch in which some events were refused as data;
// the others were stored and their Results are valid.
type BatchError struct {
	Results []Result
	Err     error
}

func (e *BatchError) Error() string { return e.Err.Error() }
func (e *BatchError) Unwrap() error { return e.Err }

// appendOnce runs the append transaction for events in one round trip:
// parse the bodies, lock the head, insert the new events numbered after
// it, move the head and ring the doorbell (one statement, migrations 014
// and 019), commit.
func (a *Appender) appendOnce(ctx context.Context, events []Event) ([]Result, error) {
	cols, firstIndex, err := newAppendColumns(events)
	if err != nil {
		return nil, err
	}
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquiring connection: %w", err)
	}
	defer conn.Release()

	batch := &pgx.Batch{}
	// Numbering relies on READ COMMITTED (the insert's snapshot is taken
	// after the head lock is granted, so it sees every earlier append). A
	// role or database default of repeatable read would make every
	// contended append fail with 40001; so ask for it, never inherit it.
	batch.Queue("begin isolation level read committed")
	// The append parses the bodies, then locks the head to commit: while
	// another writer holds it, this one's parse is already done.
	// It also rings the doorbell, delivered at commit.
	batch.Queue(a.queries.Append, cols.args()...)
	batch.Queue("commit")
	br := conn.SendBatch(ctx, batch)
	seqs, err := readAppendResults(br)
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		// The batch may have left the session inside a failed transaction;
		// don't hand that connection to anyone else.
		conn.Conn().Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("appending %d events: %w", len(events), err)
	}
	results := make([]Result, len(events))
	for i := range events {
		first := firstIndex[i]
		if seq, ok := seqs[events[i].ID]; ok && first == i {
			results[i] = Result{Seq: seq}
		} else {
			results[i] = Result{Duplicate: true}
		}
	}
	return results, nil
}

func readAppendResults(br pgx.BatchResults) (map[string]int64, error) {
	if _, err := br.Exec(); err != nil { // begin
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	seqs := make(map[string]int64)
	for rows.Next() {
		var id string
		var seq int64
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return nil, err
		}
		seqs[id] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := br.Exec(); err != nil { // commit
		return nil, err
	}
	return seqs, nil
}

// IsDataError reports whether PostgreSQL refused a statement for the
// values it was given, so running it again with the same values fails
// again: SQLSTATE class 22 (data exception: \u0000 in jsonb, bad UTF-8, a
// number a column cannot hold), 23 (integrity constraint violation: a NOT
// NULL or CHECK a value breaks) and 54 (program limit exceeded: JSON nested
// deeper than the stack allows, an index row too large). Callers set such
// values aside instead of retrying: the appender answers ErrUnstorable,
// projections dead-letter the event. Class 54 can also come from a batch as
// a whole; both isolate the offending event by retrying smaller parts.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || len(pgErr.Code) != 5 {
		return false
	}
	switch pgErr.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case IsDataError(err):
		return fmt.Errorf("%w: %w", ErrUnstorable, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}
