package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the webhook endpoint's Prometheus metrics. A nil *Metrics is
// valid and records nothing, so tests and tools need not register any.
type Metrics struct {
	webhooks      *prometheus.CounterVec
	duplicates    prometheus.Counter
	latency       prometheus.Histogram
	bodyBytes     prometheus.Histogram
	deliveryDelay prometheus.Histogram
	// Back-pressure (backpressure.go).
	acksHeld     *prometheus.CounterVec
	ackHold      prometheus.Histogram
	acksHolding  prometheus.Gauge
	lagEstimate  prometheus.Gauge
	lagAdvancing prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg, if not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "requests_total",
			Help: "Webhook deliveries by event type and outcome (stored, duplicate, bad_signature, bad_request, too_large, busy, unavailable, unstorable, canceled).",
		}, []string{"type", "outcome"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "duplicates_total",
			Help: "Webhook deliveries whose event id was already in the log.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "request_duration_seconds",
			Help:    "Time from receiving a webhook request to answering it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "body_bytes",
			Help:    "Size of webhook request bodies.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 9),
		}),
		deliveryDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "delivery_delay_seconds",
			Help:    "Time between Orb creating an event (envelope created_at) and us storing it.",
			Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 900, 3600, 6 * 3600, 24 * 3600},
		}),
		acksHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "acks_held_total",
			Help: "Acknowledgements of stored events held by back-pressure, by why they were released (caught_up, stalled, out_of_reach, max_wait, sender_gone, shutdown).",
		}, []string{"release"}),
		ackHold: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "ack_hold_seconds",
			Help:    "Time an acknowledgement was held by back-pressure (only held ones are observed).",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 1.5, 2, 3, 4},
		}),
		acksHolding: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "acks_holding",
			Help: "Acknowledgements being held by back-pressure now.",
		}),
		lagEstimate: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "backpressure_lag_events",
			Help: "Projection lag (log head minus the slowest checkpoint) as back-pressure last saw it; 0 when back-pressure is off.",
		}),
		lagAdvancing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orb", Subsystem: "webhook", Name: "backpressure_projector_advancing",
			Help: "1 when back-pressure last saw the slowest checkpoint move within its window (acks may be held), else 0.",
		}),
	}
	for _, release := range []string{releaseCaughtUp, releaseStalled, releaseOutOfReach, releaseMaxWait, releaseSenderGone, releaseClosed} {
		m.acksHeld.WithLabelValues(release)
	}
	// Refusals are counted before the body is parsed, under type "unknown".
	// Exported from the start at 0, so increase() and rate() in alerts see
	// the first one.
	for _, outcome := range []string{outcomeBadSignature, outcomeBusy, outcomeTooLarge} {
		m.webhooks.WithLabelValues("unknown", outcome)
	}
	if reg != nil {
		reg.MustRegister(m.webhooks, m.duplicates, m.latency, m.bodyBytes, m.deliveryDelay,
			m.acksHeld, m.ackHold, m.acksHolding, m.lagEstimate, m.lagAdvancing)
	}
	return m
}

func (m *Metrics) observeRequest(eventType, outcome string, bodyBytes int, took time.Duration) {
	if m == nil {
		return
	}
	if eventType == "" {
		eventType = "unknown"
	}
	m.webhooks.WithLabelValues(eventType, outcome).Inc()
	m.latency.Observe(took.Seconds())
	if bodyBytes > 0 {
		m.bodyBytes.Observe(float64(bodyBytes))
	}
	if outcome == outcomeDuplicate {
		m.duplicates.Inc()
	}
}

func (m *Metrics) observeDelay(d time.Duration) {
	if m == nil {
		return
	}
	m.deliveryDelay.Observe(max(d, 0).Seconds())
}

func (m *Metrics) observeLag(lag int64, advancing bool) {
	if m == nil {
		return
	}
	m.lagEstimate.Set(float64(lag))
	if advancing {
		m.lagAdvancing.Set(1)
	} else {
		m.lagAdvancing.Set(0)
	}
}

func (m *Metrics) holding(delta float64) {
	if m == nil {
		return
	}
	m.acksHolding.Add(delta)
}

func (m *Metrics) observeHold(release string, took time.Duration) {
	if m == nil {
		return
	}
	m.acksHeld.WithLabelValues(release).Inc()
	m.ackHold.Observe(took.Seconds())
}
