package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus metrics, in a private registry.
type Metrics struct {
	reg     *prometheus.Registry
	applied prometheus.Histogram
	agents  prometheus.Gauge
	grants  prometheus.GaugeFunc
}

// NewMetrics registers the metrics. activeGrants is called at scrape time.
func NewMetrics(activeGrants func(context.Context) (int, error)) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.applied = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "drawbridge_request_applied_seconds",
		Help:    "Time from an access request (or its approval) to the agent's confirmation that the rule is in the kernel.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	})
	m.agents = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "drawbridge_agents_connected",
		Help: "Agents holding a state watch open on this server.",
	})
	m.grants = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "drawbridge_active_grants",
		Help: "Grants confirmed in the kernel and not yet past their end time.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := activeGrants(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	m.reg.MustRegister(m.applied, m.agents, m.grants, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// WatchDatabase adds the database's disk-full state to the metrics, read at
// scrape time: drawbridge_database_disk_full (1 while only revocations can
// commit) and drawbridge_database_reserve_released_total.
func (m *Metrics) WatchDatabase(full func() bool, releases func() int64) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "drawbridge_database_disk_full",
			Help: "1 while the database's disk is full: writes other than revocations are refused and /readyz fails.",
		}, func() float64 {
			if full() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "drawbridge_database_reserve_released_total",
			Help: "Times the disk reserve beside the SQLite database was released because the disk was full.",
		}, func() float64 { return float64(releases()) }),
	)
}

// ObserveApplied records one request → kernel latency.
func (m *Metrics) ObserveApplied(d time.Duration) { m.applied.Observe(d.Seconds()) }

func (m *Metrics) agentConnected(delta float64) { m.agents.Add(delta) }

// Handler serves the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
