package watch

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are watch's, served on /metrics (client_golang); the textfile
// metrics of `plan --metrics-file` (internal/metrics) are another set.
type Metrics struct {
	reg            *prometheus.Registry
	inSync         prometheus.Gauge
	drift          *prometheus.CounterVec
	repairs        *prometheus.CounterVec
	repairFailures prometheus.Counter
	lastRepair     prometheus.Gauge
	planDuration   prometheus.Gauge
	suppressed     *prometheus.GaugeVec
	suppressions   *prometheus.CounterVec
	checks         *prometheus.CounterVec
	errors         prometheus.Counter
	reloads        *prometheus.CounterVec
}

// NewMetrics registers watch's metrics in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	byType := []string{"type"}
	m.inSync = prometheus.NewGauge(prometheus.GaugeOpts{Name: "netctl_watch_in_sync",
		Help: "Whether the last check found the kernel as the file says (1) or not (0)."})
	m.drift = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_drift_events_total",
		Help: "Drifted changes seen, by object type (sysctl, bridge, firewall); a drift is counted when it appears."}, byType)
	m.repairs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_repairs_total",
		Help: "Objects repaired, by object type."}, byType)
	m.repairFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "netctl_watch_repair_failures_total",
		Help: "Repairs that failed (the transaction rolled back or could not start)."})
	m.lastRepair = prometheus.NewGauge(prometheus.GaugeOpts{Name: "netctl_watch_last_repair_duration_seconds",
		Help: "How long the last successful repair took (lock, plan, apply, verify)."})
	m.planDuration = prometheus.NewGauge(prometheus.GaugeOpts{Name: "netctl_watch_plan_duration_seconds",
		Help: "How long the last check's plan took (read the kernel, diff)."})
	m.suppressed = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "netctl_repair_suppressed",
		Help: "Objects whose repair is suppressed (another writer kept changing them), by object type; reported, not repaired, until the file is reloaded."}, byType)
	m.suppressions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_repair_suppressions_total",
		Help: "Times an object's repair was suppressed, by object type."}, byType)
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_checks_total",
		Help: "Plans made, by what triggered them (start, nftables, link, address, lost, sysctl, reload, retry)."}, []string{"trigger"})
	m.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "netctl_watch_plan_errors_total",
		Help: "Checks whose plan failed."})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "netctl_watch_reloads_total",
		Help: "Reloads of the file (SIGHUP), by result (ok, error)."}, []string{"result"})
	// The process's CPU time and memory: watch's idle cost, measured.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.inSync, m.drift, m.repairs, m.repairFailures, m.lastRepair, m.planDuration,
		m.suppressed, m.suppressions, m.checks, m.errors, m.reloads)
	// Every type is present from the start, at 0: a rate() needs the zero.
	for _, t := range []string{"sysctl", "bridge", "firewall"} {
		m.drift.WithLabelValues(t)
		m.repairs.WithLabelValues(t)
		m.suppressed.WithLabelValues(t)
		m.suppressions.WithLabelValues(t)
	}
	return m
}

func (m *Metrics) resetSuppressed() {
	for _, t := range []string{"sysctl", "bridge", "firewall"} {
		m.suppressed.WithLabelValues(t).Set(0)
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer is the registry, for tests.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }
