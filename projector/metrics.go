package projector

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb-sync/orb-sync/projector/internal/fold"
)

// Metrics are the projector's Prometheus metrics. A nil *Metrics is valid
// and records nothing.
type Metrics struct {
	logHead        prometheus.Gauge
	checkpoint     *prometheus.GaugeVec
	lagEvents      *prometheus.GaugeVec
	lagSeconds     *prometheus.GaugeVec
	deadUnresolved *prometheus.GaugeVec
	paused         *prometheus.GaugeVec
	applied        *prometheus.CounterVec
	rowsWritten    *prometheus.CounterVec
	recomputed     *prometheus.CounterVec
	deadLetters    *prometheus.CounterVec
	unapplied      *prometheus.CounterVec
	batchSeconds   *prometheus.HistogramVec
	batchErrors    *prometheus.CounterVec
	unknownFields  *prometheus.CounterVec
	unknownTypes   *prometheus.CounterVec
	reconnects     prometheus.Counter
	wakeups        *prometheus.CounterVec
	leader         prometheus.Gauge
	status         *statusCollector
	all            []prometheus.Collector
	registeredWith prometheus.Registerer
}

// Wake-up sources, the values of the wakeups_total "source" label.
const (
	wakeNotify = "notify" // a NOTIFY from an append
	wakePoll   = "poll"   // the poll timer
	wakeListen = "listen" // the listener (re)connected: catch up
	wakeLeader = "leader" // this instance became leader
	wakeStart  = "start"
)

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	perProjection := []string{"projection"}
	m := &Metrics{
		logHead: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "log", Name: "head_seq",
			Help: "Last position in the event log.",
		}),
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projection", Name: "checkpoint_seq",
			Help: "Last log position a projection has applied.",
		}, perProjection),
		lagEvents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projection", Name: "lag_events",
			Help: "Log positions a projection has still to apply (head minus checkpoint).",
		}, perProjection),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projection", Name: "lag_seconds",
			Help: "Age of the oldest event a projection has not applied yet (0 when caught up).",
		}, perProjection),
		deadUnresolved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projection", Name: "dead_letters_unresolved",
			Help: "Events set aside by a projection and not resolved yet.",
		}, perProjection),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projection", Name: "paused",
			Help: "1 for a history projection left paused by the leader's PROJECTOR_HISTORY (its lag then reads 0), else 0.",
		}, perProjection),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "events_applied_total",
			Help: "Events folded into a projection's table.",
		}, perProjection),
		rowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "rows_written_total",
			Help: "Row writes by a projection (updates of one row within a batch count once).",
		}, perProjection),
		recomputed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "recomputed_total",
			Help: "Entities recomputed from their whole history because an event arrived older than their row.",
		}, perProjection),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "dead_letters_total",
			Help: "Events a projection could not apply and set aside.",
		}, perProjection),
		unapplied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "unapplied_events_total",
			Help: "Events a projection reads whose entity could not be found (no id, unknown alias), set aside in dead_letters.",
		}, perProjection),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "projection", Name: "batch_seconds",
			Help:    "Duration of one projection's batch (fold and checkpoint) within a round's transaction, before its commit.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, perProjection),
		batchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "batch_errors_total",
			Help: "Batches of a projection that failed and will be retried.",
		}, perProjection),
		unknownFields: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projection", Name: "unknown_fields_total",
			Help: "Batches whose newest full object carried a top-level field with no column (kept in the log only).",
		}, []string{"projection", "field"}),
		unknownTypes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projector", Name: "unknown_event_types_total",
			Help: "Logged events of a type no projection knows (kept in the log only).",
		}, []string{"type"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projector", Name: "listener_reconnects_total",
			Help: "Times the LISTEN connection was lost and opened again.",
		}),
		wakeups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "projector", Name: "wakeups_total",
			Help: "Times the projector woke up to read the log, by cause (notify, poll, listen, leader, start).",
		}, []string{"source"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "projector", Name: "leader",
			Help: "1 while this instance holds the projector lock and applies events, else 0.",
		}),
	}
	m.status = &statusCollector{gauges: []prometheus.Collector{m.logHead, m.checkpoint, m.lagEvents, m.lagSeconds, m.deadUnresolved, m.paused}, m: m}
	m.all = []prometheus.Collector{m.status,
		m.applied, m.rowsWritten, m.recomputed, m.deadLetters, m.unapplied, m.batchSeconds, m.batchErrors,
		m.unknownFields, m.unknownTypes, m.reconnects, m.wakeups, m.leader}
	if reg != nil {
		reg.MustRegister(m.all...)
		m.registeredWith = reg
	}
	return m
}

// Unregister removes the metrics from the registry NewMetrics used.
func (m *Metrics) Unregister() {
	if m == nil || m.registeredWith == nil {
		return
	}
	for _, c := range m.all {
		m.registeredWith.Unregister(c)
	}
}

func (m *Metrics) observeBatch(projection string, r fold.ApplyResult, took time.Duration) {
	if m == nil {
		return
	}
	m.applied.WithLabelValues(projection).Add(float64(r.Events))
	m.rowsWritten.WithLabelValues(projection).Add(float64(r.Rows))
	m.recomputed.WithLabelValues(projection).Add(float64(r.Recomputed))
	m.deadLetters.WithLabelValues(projection).Add(float64(len(r.DeadLetters)))
	m.unapplied.WithLabelValues(projection).Add(float64(r.Unapplied))
	m.batchSeconds.WithLabelValues(projection).Observe(took.Seconds())
	for _, f := range r.UnknownFields {
		m.unknownFields.WithLabelValues(projection, f).Inc()
	}
}

func (m *Metrics) batchFailed(projection string) {
	if m == nil {
		return
	}
	m.batchErrors.WithLabelValues(projection).Inc()
}

func (m *Metrics) observeStatus(s Status) {
	if m == nil {
		return
	}
	m.logHead.Set(float64(s.Head))
	for _, p := range s.Projections {
		m.checkpoint.WithLabelValues(p.Projection).Set(float64(p.Checkpoint))
		m.lagEvents.WithLabelValues(p.Projection).Set(float64(p.LagEvents))
		m.lagSeconds.WithLabelValues(p.Projection).Set(p.LagSeconds)
		m.deadUnresolved.WithLabelValues(p.Projection).Set(float64(p.DeadLetters))
		paused := 0.0
		if p.Paused {
			paused = 1
		}
		m.paused.WithLabelValues(p.Projection).Set(paused)
	}
}

// readStatusFrom makes the status gauges (log head, checkpoints, lag, dead
// letters) be read with read when they are scraped.
func (m *Metrics) readStatusFrom(read func(context.Context) (Status, error)) {
	if m == nil {
		return
	}
	m.status.mu.Lock()
	defer m.status.mu.Unlock()
	m.status.read = read
}

// statusScrapeTimeout bounds the status read of one scrape; on failure the
// scrape reports the last values read.
const statusScrapeTimeout = 5 * time.Second

// statusCollector reads the status gauges from the database when scraped,
// so their cost follows the scrape interval rather than the event rate,
// and every replica, leader or not, reports the truth.
type statusCollector struct {
	gauges []prometheus.Collector
	m      *Metrics
	mu     sync.Mutex // one read at a time; guards read
	read   func(context.Context) (Status, error)
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		g.Describe(ch)
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.read != nil {
		ctx, cancel := context.WithTimeout(context.Background(), statusScrapeTimeout)
		st, err := c.read(ctx)
		cancel()
		if err != nil {
			slog.Warn("projector: reading status for metrics failed; reporting the last values", slog.String("error", err.Error()))
		} else {
			c.m.observeStatus(st)
		}
	}
	c.mu.Unlock()
	for _, g := range c.gauges {
		g.Collect(ch)
	}
}

func (m *Metrics) unknownType(eventType string, n int64) {
	if m == nil {
		return
	}
	m.unknownTypes.WithLabelValues(eventType).Add(float64(n))
}

func (m *Metrics) reconnected() {
	if m == nil {
		return
	}
	m.reconnects.Inc()
}

func (m *Metrics) woke(source string) {
	if m == nil {
		return
	}
	m.wakeups.WithLabelValues(source).Inc()
}

func (m *Metrics) setLeader(on bool) {
	if m == nil {
		return
	}
	if on {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}
