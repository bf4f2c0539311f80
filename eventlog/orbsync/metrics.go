package orbsync

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of the API readers. A nil *Metrics is
// valid and records nothing.
type Metrics struct {
	snapshots   *prometheus.CounterVec
	pages       *prometheus.CounterVec
	recovered   *prometheus.CounterVec
	missing     *prometheus.CounterVec
	passSeconds *prometheus.HistogramVec
	passErrors  *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	collectors  []prometheus.Collector
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "sync", Name: "snapshot_objects_total",
			Help: "Objects read from the Orb API by origin (backfill, reconcile, refetch), resource and outcome (stored, duplicate: the log already held that state, error).",
		}, []string{"origin", "resource", "outcome"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "sync", Name: "backfill_pages_total",
			Help: "Backfill pages stored, by entity.",
		}, []string{"entity"}),
		recovered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "sync", Name: "repair_events_total",
			Help: "Webhook events read from GET /webhook_events by outcome (recovered: appended; present: already in the log; error).",
		}, []string{"outcome"}),
		missing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "sync", Name: "missing_markers_total",
			Help: "reconcile.missing markers appended for objects that vanished from a complete listing, by resource.",
		}, []string{"resource"}),
		passSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "sync", Name: "pass_duration_seconds",
			Help:    "Duration of one pass of a periodic job (reconcile, repair, refetch) or of a backfill.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}, []string{"job"}),
		passErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "sync", Name: "pass_errors_total",
			Help: "Passes of a job that failed.",
		}, []string{"job"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "sync", Name: "last_success_timestamp_seconds",
			Help: "Unix time at which this replica last finished a pass of the job, or started the job if it has not finished one; alert when every replica's falls behind.",
		}, []string{"job"}),
	}
	m.collectors = []prometheus.Collector{m.snapshots, m.pages, m.recovered, m.missing, m.passSeconds, m.passErrors, m.lastSuccess}
	if reg != nil {
		reg.MustRegister(m.collectors...)
	}
	return m
}

// Unregister removes the metrics from reg.
func (m *Metrics) Unregister(reg prometheus.Registerer) {
	if m == nil || reg == nil {
		return
	}
	for _, c := range m.collectors {
		reg.Unregister(c)
	}
}

func (m *Metrics) observeSnapshots(origin, resource string, c writeCounts) {
	if m == nil {
		return
	}
	m.snapshots.WithLabelValues(origin, resource, "stored").Add(float64(c.Stored))
	m.snapshots.WithLabelValues(origin, resource, "duplicate").Add(float64(c.Duplicates))
	m.snapshots.WithLabelValues(origin, resource, "error").Add(float64(c.Errors))
}

func (m *Metrics) observePage(entity string) {
	if m != nil {
		m.pages.WithLabelValues(entity).Inc()
	}
}

func (m *Metrics) observeRepair(rep RepairReport) {
	if m == nil {
		return
	}
	m.recovered.WithLabelValues("recovered").Add(float64(rep.Recovered))
	m.recovered.WithLabelValues("present").Add(float64(rep.Present))
	m.recovered.WithLabelValues("error").Add(float64(rep.Errors))
}

func (m *Metrics) observeMissing(resource string, n int) {
	if m != nil {
		m.missing.WithLabelValues(resource).Add(float64(n))
	}
}

// initJob exports the job's error count at 0 before its first pass, so an
// alert on increase() sees the first failure.
func (m *Metrics) initJob(job string) {
	if m != nil {
		m.passErrors.WithLabelValues(job)
	}
}

// startJob starts a periodic job's last-success clock at the worker's
// start. Without it the gauge would be absent until a first success, and
// after a restart of every replica a job that never succeeds would never
// age into an alert (an absent series compares to nothing).
func (m *Metrics) startJob(job string, now time.Time) {
	if m != nil {
		m.lastSuccess.WithLabelValues(job).Set(float64(now.Unix()))
	}
}

func (m *Metrics) observePass(job string, took time.Duration, err error, now time.Time) {
	if m == nil {
		return
	}
	m.passSeconds.WithLabelValues(job).Observe(took.Seconds())
	if err != nil {
		m.passErrors.WithLabelValues(job).Inc()
		return
	}
	m.lastSuccess.WithLabelValues(job).Set(float64(now.Unix()))
}
