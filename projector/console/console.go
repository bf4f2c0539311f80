package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Prefix is where the console is served; every link it renders starts
// with it.
const Prefix = "/console/"

// minTokenLength matches the admin endpoints' rule for ADMIN_TOKEN.
const minTokenLength = 16

// pageTimeout bounds the database work of one page.
const pageTimeout = 10 * time.Second

// Config is what the console reads and who may read it.
type Config struct {
	Pool   *pgxpool.Pool
	Schema string
	// Token is ADMIN_TOKEN: the bearer token, or the password of HTTP basic
	// auth (any user name). Required.
	Token string
	// Secrets are the webhook signing secrets, to tell whether a stored
	// event's signature still checks. Never rendered.
	Secrets []string
	// Gatherer, when set, is sampled for the webhook outcome counters of
	// this process (orb_webhook_requests_total).
	Gatherer prometheus.Gatherer
	// Jobs, when set, lists the backfill and rebuild jobs running in this
	// process, for the pipeline page.
	Jobs   func() []Job
	Logger *slog.Logger
	// History reads entity timelines; nil reads them from the history
	// projections.
	History History
}

// Job is a background job's progress, as the pipeline page shows it.
type Job struct {
	Kind       string // "backfill", "rebuild"
	Running    bool
	StartedAt  time.Time
	FinishedAt time.Time
	// Done and Total measure progress in Unit; Total 0 when unknown.
	Done, Total int64
	Unit        string
	// Detail says what it is doing now, e.g. "customers: filling".
	Detail string
	Error  string
}

// Console serves the pages. Create it with New.
type Console struct {
	cfg     Config
	store   *store
	history History
	pages   *pages
	csrf    string
	rates   *rateSampler
	mux     *http.ServeMux
}

// New checks cfg and returns the console; ctx bounds its background
// sampling of the webhook counters.
func New(ctx context.Context, cfg Config) (*Console, error) {
	if len(cfg.Token) < minTokenLength {
		return nil, fmt.Errorf("console: ADMIN_TOKEN must be at least %d characters", minTokenLength)
	}
	if cfg.Pool == nil || cfg.Schema == "" {
		return nil, errors.New("console: a pool and a schema are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, store: newStore(cfg.Pool, cfg.Schema), csrf: csrfToken(cfg.Token)}
	c.history = cfg.History
	if c.history == nil {
		c.history = NewTableHistory(cfg.Pool, cfg.Schema)
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.rates = newRateSampler(cfg.Gatherer)
	go c.rates.run(ctx)
	c.mux = c.routes()
	return c, nil
}

func (c *Console) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET "+Prefix+"static/{file}", staticFiles())
	m.HandleFunc("GET "+Prefix+"{$}", c.handleSearch)
	m.HandleFunc("GET "+Prefix+"search", c.handleSearch)
	m.HandleFunc("GET "+Prefix+"pipeline", c.handlePipeline)
	m.HandleFunc("POST "+Prefix+"pipeline/retry", c.handleRetry)
	m.HandleFunc("GET "+Prefix+"event/{id}", c.handleEvent)
	m.HandleFunc("GET "+Prefix+"{kind}/{id}", c.handleEntity)
	m.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, http.StatusNotFound, "No such page.")
	})
	return m
}

// ServeHTTP applies the security headers, then authentication, then the
// page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="orb-sync console", charset="UTF-8"`)
		http.Error(w, "ADMIN_TOKEN required: as a bearer token, or as the password of HTTP basic auth (any user name)", http.StatusUnauthorized)
		return
	}
	start := time.Now()
	tw := &timedWriter{ResponseWriter: w, start: start}
	c.mux.ServeHTTP(tw, r)
}

// timedWriter adds a Server-Timing header with the time spent before the
// first byte, so the browser's developer tools show the server's share.
type timedWriter struct {
	http.ResponseWriter
	start time.Time
	sent  bool
}

func (t *timedWriter) WriteHeader(code int) {
	if !t.sent {
		t.sent = true
		ms := float64(time.Since(t.start).Microseconds()) / 1000
		t.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.1f", ms))
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *timedWriter) Write(b []byte) (int, error) {
	if !t.sent {
		t.WriteHeader(http.StatusOK)
	}
	return t.ResponseWriter.Write(b)
}
