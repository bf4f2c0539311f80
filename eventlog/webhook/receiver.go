package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/orb-sync/orb-sync/eventlog"
)

// Defaults for ReceiverConfig.
const (
	MaxBodyBytesDefault  = 10 << 20
	appendTimeoutDefault = 15 * time.Second
	// InflightBytesDefault bounds the webhook bytes held in memory at once
	// (bodies being read or waiting for their commit): three bodies of the
	// largest size, or hundreds of typical ones (a few KB each).
	InflightBytesDefault = 32 << 20
	inflightWaitDefault  = 2 * time.Second
	// refusedLogEvery is the least time between two warnings about refused
	// signatures: unauthenticated senders must not be able to flood the
	// logs; the metric counts every one.
	refusedLogEvery    = 10 * time.Second
	bodyTimeoutDefault = 10 * time.Second
)

// Outcomes, as counted in orb_webhook_requests_total.
const (
	outcomeStored       = "stored"
	outcomeDuplicate    = "duplicate"
	outcomeBadSignature = "bad_signature"
	outcomeBadRequest   = "bad_request"
	outcomeTooLarge     = "too_large"
	outcomeUnavailable  = "unavailable"
	outcomeUnstorable   = "unstorable"
	outcomeCanceled     = "canceled"
	outcomeBusy         = "busy"
	outcomeContentType  = "bad_content_type"
)

// ReceiverConfig configures the webhook endpoint.
type ReceiverConfig struct {
	// Secrets are the webhook secrets; a delivery signed with any of them is
	// accepted, so a secret can be rotated without downtime. Required.
	Secrets []string
	// Tolerance bounds the age (and future skew) of X-Orb-Timestamp.
	// Defaults to 5 minutes, as in Orb's SDKs.
	Tolerance time.Duration
	// MaxBodyBytes is the largest accepted body; larger ones get 413.
	// Defaults to 10 MiB.
	MaxBodyBytes int64
	// InflightBytes bounds the body bytes of requests in flight; a request
	// that does not fit waits up to InflightWait, then gets 503 so Orb
	// retries, instead of growing memory. A request's share is its
	// Content-Length (MaxBodyBytes when unknown). Defaults to
	// InflightBytesDefault; at least MaxBodyBytes.
	InflightBytes int64
	InflightWait  time.Duration
	// BodyTimeout bounds the reading of a request's body, so a sender
	// dripping it slowly gets 408 (rather than a connection cut by the
	// server's own read timeout with no answer). Defaults to 10 seconds.
	BodyTimeout time.Duration
	// AppendTimeout bounds the wait for the commit. Orb expects an answer
	// within 5 seconds and retries otherwise. Defaults to 15 seconds.
	AppendTimeout time.Duration
	// Backpressure, if set, holds the acknowledgement of a stored event
	// while the projections lag (backpressure.go). Nil holds nothing.
	Backpressure *Backpressure
	// Now returns the current time; defaults to time.Now. For tests.
	Now func() time.Time
	// Logger defaults to slog.Default(). Bodies and secrets are never logged.
	Logger  *slog.Logger
	Metrics *Metrics
}

func (c ReceiverConfig) validate() error {
	if len(c.Secrets) == 0 {
		return errors.New("receiver: at least one webhook secret is required")
	}
	for _, s := range c.Secrets {
		if strings.TrimSpace(s) == "" {
			return errors.New("receiver: webhook secrets must not be empty")
		}
	}
	return nil
}

func (c ReceiverConfig) withDefaults() ReceiverConfig {
	if c.Tolerance <= 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = MaxBodyBytesDefault
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = bodyTimeoutDefault
	}
	if c.AppendTimeout <= 0 {
		c.AppendTimeout = appendTimeoutDefault
	}
	if c.InflightBytes <= 0 {
		c.InflightBytes = max(InflightBytesDefault, c.MaxBodyBytes)
	}
	if c.InflightWait <= 0 {
		c.InflightWait = inflightWaitDefault
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Receiver is the HTTP handler for POST /webhooks.
type Receiver struct {
	cfg      ReceiverConfig
	appender *eventlog.Appender
	inflight *semaphore.Weighted
	refused  logSampler
}

// NewReceiver returns a handler that verifies deliveries and appends them.
func NewReceiver(appender *eventlog.Appender, cfg ReceiverConfig) (*Receiver, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.InflightBytes < cfg.MaxBodyBytes {
		return nil, fmt.Errorf("receiver: the in-flight byte bound %d is below the largest body %d", cfg.InflightBytes, cfg.MaxBodyBytes)
	}
	return &Receiver{cfg: cfg, appender: appender, inflight: semaphore.NewWeighted(cfg.InflightBytes),
		refused: logSampler{every: refusedLogEvery}}, nil
}

// ServeHTTP answers as Orb's retry logic needs: 2xx only once the event is
// committed (or was already), 4xx for deliveries that can never succeed, 503
// when storage failed so Orb tries again.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	eventType, outcome, size := "", outcomeBadRequest, 0
	defer func() { rc.cfg.Metrics.observeRequest(eventType, outcome, size, time.Since(start)) }()

	if !jsonContentType(r.Header.Get("Content-Type")) {
		outcome = outcomeContentType
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody("Content-Type must be application/json"))
		return
	}
	if r.ContentLength > rc.cfg.MaxBodyBytes {
		outcome = outcomeTooLarge
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("body exceeds %d bytes", rc.cfg.MaxBodyBytes)))
		return
	}
	release, ok := rc.reserve(r)
	if !ok {
		outcome = outcomeBusy
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody("too many webhook bytes in flight; retry later"))
		return
	}
	release = sync.OnceFunc(release)
	defer release()

	// Not supported by every ResponseWriter (some test recorders); the
	// server's read timeout still applies then.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(rc.cfg.BodyTimeout))
	body, err := readBody(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBodyBytes), r.ContentLength)
	size = len(body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			outcome = outcomeTooLarge
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody(fmt.Sprintf("body exceeds %d bytes", rc.cfg.MaxBodyBytes)))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			writeJSON(w, http.StatusRequestTimeout, errorBody(fmt.Sprintf("body not received within %s", rc.cfg.BodyTimeout)))
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody("reading body: "+err.Error()))
		return
	}
	if err := Verify(r.Header, body, rc.cfg.Secrets, rc.cfg.Tolerance, rc.cfg.Now()); err != nil {
		outcome = outcomeBadSignature
		if n, ok := rc.refused.allow(rc.cfg.Now()); ok {
			rc.cfg.Logger.WarnContext(r.Context(), "webhook refused: bad signature (sampled; see orb_webhook_requests_total{outcome=\"bad_signature\"})",
				slog.String("reason", err.Error()), slog.String("remote", r.RemoteAddr), slog.Int64("refused_since_last_warning", n))
		}
		writeJSON(w, http.StatusUnauthorized, errorBody(err.Error()))
		return
	}
	// What the append stores besides the body (compressed, refs) is built
	// on another goroutine while the envelope is parsed here: for a
	// ~54 KB body, the three passes take ~0.5 ms of the webhook's latency
	// one after the other. Only a verified body gets this far.
	ev := eventlog.Event{
		Source:       eventlog.SourceWebhook,
		Body:         body,
		OrbTimestamp: r.Header.Get(HeaderTimestamp),
		OrbSignature: strings.Join(r.Header.Values(HeaderSignature), " "),
	}
	prepared := make(chan error, 1)
	go func() { prepared <- ev.Prepare() }()
	env, err := eventlog.ParseEnvelope(body)
	prepareErr := <-prepared
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
		return
	}
	eventType = env.Type
	ev.Envelope = env

	ctx, cancel := context.WithTimeout(r.Context(), rc.cfg.AppendTimeout)
	defer cancel()
	res, err := eventlog.Result{}, prepareErr
	if err == nil {
		res, err = rc.appender.Append(ctx, ev)
	}
	switch {
	case errors.Is(err, eventlog.ErrUnstorable):
		outcome = outcomeUnstorable
		rc.cfg.Logger.ErrorContext(ctx, "webhook cannot be stored", slog.String("event_id", env.ID), slog.String("type", env.Type), slog.String("error", err.Error()))
		writeJSON(w, http.StatusBadRequest, errorBody(err.Error()))
	case err != nil && r.Context().Err() != nil:
		// The sender hung up before the commit; it will retry, and the
		// event, if it was committed meanwhile, is then a duplicate.
		outcome = outcomeCanceled
		rc.cfg.Logger.InfoContext(ctx, "sender went away before the commit", slog.String("event_id", env.ID))
	case err != nil:
		outcome = outcomeUnavailable
		rc.cfg.Logger.ErrorContext(ctx, "webhook not stored", slog.String("event_id", env.ID), slog.String("type", env.Type), slog.String("error", err.Error()))
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody("event log unavailable; retry later"))
	case res.Duplicate:
		outcome = outcomeDuplicate
		writeJSON(w, http.StatusOK, map[string]any{"received": true, "duplicate": true})
	default:
		outcome = outcomeStored
		rc.cfg.Metrics.observeDelay(rc.cfg.Now().Sub(env.CreatedAt))
		// Committed: the body's bytes are no longer held for it, and the
		// ack may wait for the projections (a sender gone meanwhile loses
		// nothing; its retry is a duplicate).
		release()
		rc.cfg.Backpressure.hold(r.Context())
		writeJSON(w, http.StatusOK, map[string]any{"received": true, "seq": res.Seq})
	}
}

// readBody reads a request body of contentLength bytes (-1: unknown). A
// known length is read into one buffer of exactly that size: io.ReadAll
// grows its buffer step by step, allocating about 1.6 times a 54 KB body
// as garbage on every request.
func readBody(body io.Reader, contentLength int64) ([]byte, error) {
	if contentLength < 0 {
		return io.ReadAll(body)
	}
	buf := make([]byte, contentLength)
	if _, err := io.ReadFull(body, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	// net/http stops a body at its Content-Length; a reader that does not
	// (a test's) must not get a truncated body past the signature check.
	var extra [1]byte
	if n, err := body.Read(extra[:]); n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		if err == nil {
			err = errors.New("body longer than its Content-Length")
		}
		return nil, err
	}
	return buf, nil
}

// jsonContentType accepts application/json (with parameters) and, for
// senders that set none, no Content-Type at all; Orb sends
// application/json. Anything else is not a webhook.
func jsonContentType(v string) bool {
	if v == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && mt == "application/json"
}

// reserve takes the request's share of the in-flight byte bound, waiting
// up to InflightWait for room.
func (rc *Receiver) reserve(r *http.Request) (release func(), ok bool) {
	n := rc.cfg.MaxBodyBytes
	if r.ContentLength >= 0 {
		n = max(r.ContentLength, 1)
	}
	ctx, cancel := context.WithTimeout(r.Context(), rc.cfg.InflightWait)
	defer cancel()
	if err := rc.inflight.Acquire(ctx, n); err != nil {
		return nil, false
	}
	return func() { rc.inflight.Release(n) }, true
}

// logSampler lets one log line through per interval and counts the rest.
type logSampler struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int64
}

// allow reports whether to log now, and how many events this line stands
// for (itself and those suppressed since the last line).
func (s *logSampler) allow(now time.Time) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suppressed++
	if !s.last.IsZero() && now.Sub(s.last) < s.every {
		return 0, false
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return n, true
}

func errorBody(msg string) map[string]any {
	return map[string]any{"received": false, "error": msg}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
