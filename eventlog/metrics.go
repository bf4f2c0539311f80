package eventlog

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the append path's Prometheus metrics. A nil *Metrics is valid
// and records nothing, so tests and tools need not register any.
type Metrics struct {
	batchEvents   prometheus.Histogram
	commitSeconds prometheus.Histogram
	batchErrors   prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "eventlog", Name: "append_batch_events",
			Help:    "Events committed together in one append transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "eventlog", Name: "append_batch_seconds",
			Help:    "Duration of one append transaction, from acquiring a connection to commit.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
		batchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "eventlog", Name: "append_errors_total",
			Help: "Append transactions that failed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.batchEvents, m.commitSeconds, m.batchErrors)
	}
	return m
}

func (m *Metrics) observeBatch(events int, took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.batchErrors.Inc()
		return
	}
	m.batchEvents.Observe(float64(events))
	m.commitSeconds.Observe(took.Seconds())
}
