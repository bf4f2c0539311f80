package projector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RebuildMetrics are a Rebuilder's Prometheus metrics. A nil
// *RebuildMetrics is valid and records nothing.
type RebuildMetrics struct {
	running        *prometheus.GaugeVec
	done           *prometheus.GaugeVec
	goal           *prometheus.GaugeVec
	runs           *prometheus.CounterVec
	swapRetries    *prometheus.CounterVec
	lastSeconds    *prometheus.GaugeVec
	all            []prometheus.Collector
	registeredWith prometheus.Registerer
}

// NewRebuildMetrics creates the metrics and registers them with reg, if not
// nil.
func NewRebuildMetrics(reg prometheus.Registerer) *RebuildMetrics {
	perProjection := []string{"projection"}
	m := &RebuildMetrics{
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "running",
			Help: "1 while this process rebuilds a projection's table from the log, else 0.",
		}, perProjection),
		done: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "done_seq",
			Help: "Log position the running rebuild has folded into its shadow table.",
		}, perProjection),
		goal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "goal_seq",
			Help: "Log position the running rebuild folds up to before it swaps the table in.",
		}, perProjection),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "runs_total",
			Help: "Finished rebuilds, by result: swapped, failed or cancelled.",
		}, []string{"projection", "result"}),
		swapRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "swap_retries_total",
			Help: "Swap transactions that gave up waiting for a lock and were retried.",
		}, perProjection),
		lastSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "rebuild", Name: "last_duration_seconds",
			Help: "Duration of the projection's last finished rebuild.",
		}, perProjection),
	}
	// Failures exported at 0 from the start, so an alert on increase() sees
	// the first one.
	for _, p := range Projections() {
		m.runs.WithLabelValues(p.Name, "failed")
	}
	m.all = []prometheus.Collector{m.running, m.done, m.goal, m.runs, m.swapRetries, m.lastSeconds}
	if reg != nil {
		reg.MustRegister(m.all...)
		m.registeredWith = reg
	}
	return m
}

// Unregister removes the metrics from the registry NewRebuildMetrics used.
func (m *RebuildMetrics) Unregister() {
	if m == nil || m.registeredWith == nil {
		return
	}
	for _, c := range m.all {
		m.registeredWith.Unregister(c)
	}
}

func (m *RebuildMetrics) started(projection string) {
	if m == nil {
		return
	}
	m.running.WithLabelValues(projection).Set(1)
	m.done.WithLabelValues(projection).Set(0)
}

func (m *RebuildMetrics) progress(p RebuildProgress) {
	if m == nil || p.Phase == PhaseWaiting {
		return
	}
	m.done.WithLabelValues(p.Projection).Set(float64(p.Done))
	m.goal.WithLabelValues(p.Projection).Set(float64(p.Total))
}

func (m *RebuildMetrics) finished(projection string, err error, took time.Duration) {
	if m == nil {
		return
	}
	result := "swapped"
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		result = "cancelled"
	case err != nil:
		result = "failed"
	}
	m.running.WithLabelValues(projection).Set(0)
	m.runs.WithLabelValues(projection, result).Inc()
	m.lastSeconds.WithLabelValues(projection).Set(took.Seconds())
}

func (m *RebuildMetrics) swapRetried(projection string) {
	if m == nil {
		return
	}
	m.swapRetries.WithLabelValues(projection).Inc()
}
