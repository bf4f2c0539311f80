package cli

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	orbsql "github.com/orb-sync/orb-sync/sql"
)

// newLogger builds the process logger; with a nil w it only validates.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL=%q must be debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		if w == nil {
			return nil, nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		if w == nil {
			return nil, nil
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT=%q must be json or text", format)
	}
}

// poolCollector exports pgxpool statistics, labelled by pool: "ack" (the
// webhook path) and "background".
type poolCollector struct {
	pools                                       map[string]*pgxpool.Pool
	total, idle, acquired, max                  *prometheus.Desc
	acquires, emptyAcquires, acquireWait, newed *prometheus.Desc
}

func newPoolCollector(pools map[string]*pgxpool.Pool) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("orb_db_pool_"+name, help, []string{"pool"}, nil)
	}
	return &poolCollector{
		pools:         pools,
		total:         d("connections", "Connections currently open in the pool."),
		idle:          d("idle_connections", "Open connections not in use."),
		acquired:      d("acquired_connections", "Connections currently in use."),
		max:           d("max_connections", "The pool's size limit."),
		acquires:      d("acquires_total", "Connections acquired from the pool."),
		emptyAcquires: d("empty_acquires_total", "Acquires that had to wait or connect because no connection was idle."),
		acquireWait:   d("acquire_wait_seconds_total", "Total time spent waiting for a connection."),
		newed:         d("new_connections_total", "Connections opened."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.total, c.idle, c.acquired, c.max, c.acquires, c.emptyAcquires, c.acquireWait, c.newed} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, pool := range c.pools {
		s := pool.Stat()
		metric := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, name)
		}
		metric(c.total, prometheus.GaugeValue, float64(s.TotalConns()))
		metric(c.idle, prometheus.GaugeValue, float64(s.IdleConns()))
		metric(c.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
		metric(c.max, prometheus.GaugeValue, float64(s.MaxConns()))
		metric(c.acquires, prometheus.CounterValue, float64(s.AcquireCount()))
		metric(c.emptyAcquires, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
		metric(c.acquireWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
		metric(c.newed, prometheus.CounterValue, float64(s.NewConnsCount()))
	}
}

func newBuildInfoCollector() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace:   "orb",
		Name:        "build_info",
		Help:        "Always 1; the labels say which orb-sync build (version, commit) and schema version is running.",
		ConstLabels: prometheus.Labels{"version": buildVersion(), "commit": buildCommit(), "schema_version": fmt.Sprint(orbsql.LatestVersion())},
	}, func() float64 { return 1 })
}
