// Package metrics exposes a server's counters in Prometheus' text format:
// its HTTP requests by route, status and version, their latency and bytes,
// and the totals other packages keep (ingest, notifications, throttling),
// read when scraped. It uses the Prometheus client library, whose registry
// checks names and label sets and whose Go and process collectors give
// memory, goroutines and file descriptors for free.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of callvault's own.
const Namespace = "callvault"

// Unmatched is the route label of a request that matched no route (a 404,
// or one refused before its path was resolved): raw paths are never
// labels, so that a scanner cannot grow the series without bound.
const Unmatched = "unmatched"

// Registry holds a server's metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	store    *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
}

// Request is one served HTTP request, as Observe counts it.
type Request struct {
	Route, Version, Method string
	Status, Bytes          int
	Duration               time.Duration
	Store                  time.Duration // of Duration, in the store's methods; 0: none called
}

// New returns a registry with the HTTP metrics, the Go runtime's and the
// process's, and callvault_build_info carrying version labels.
func New(version, revision, goVersion string) *Registry {
	m := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method, status and API version.",
		}, []string{"route", "method", "status", "version"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "How long requests took to serve, from their headers to the handler's end, by route pattern and API version.",
			// From a cached token's page (a millisecond) to a large export.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "version"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "store_duration_seconds",
			Help:    "Time a request spent in the store's methods (queries and their reading), by route pattern and API version; requests that asked the store nothing are not counted.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "version"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_response_bytes_total",
			Help: "Bytes of response bodies written, by route pattern and API version.",
		}, []string{"route", "version"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.store, m.bytes,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info",
			Help:        "Always 1; its labels say which build runs.",
			ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
		}, func() float64 { return 1 }))
	return m
}

// Observe counts one served request.
func (m *Registry) Observe(r Request) {
	route := r.Route
	if route == "" {
		route = Unmatched
	}
	status := "0" // nothing written: the client went away first
	if r.Status > 0 {
		status = strconv.Itoa(r.Status)
	}
	m.requests.WithLabelValues(route, method(r.Method), status, r.Version).Inc()
	m.latency.WithLabelValues(route, r.Version).Observe(r.Duration.Seconds())
	if r.Store > 0 {
		m.store.WithLabelValues(route, r.Version).Observe(r.Store.Seconds())
	}
	m.bytes.WithLabelValues(route, r.Version).Add(float64(r.Bytes))
}

// method is the label of an HTTP method: the ones callvault serves, and
// "other" for any other token a client may send.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut, http.MethodOptions:
		return m
	}
	return "other"
}

// Counter exposes a total kept elsewhere (an atomic counter) as the counter
// callvault_NAME, read at each scrape. labels, optional, are fixed label
// pairs: the same name may be given several times with different values,
// as long as the label names and help are the same.
func (m *Registry) Counter(name, help string, labels prometheus.Labels, read func() int64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: Namespace, Name: name, Help: help, ConstLabels: labels,
	}, func() float64 { return float64(read()) }))
}

// Gauge exposes a value read at each scrape as the gauge callvault_NAME,
// with fixed labels as Counter's.
func (m *Registry) Gauge(name, help string, labels prometheus.Labels, read func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: name, Help: help, ConstLabels: labels,
	}, read))
}

// Handler serves the metrics in Prometheus' text exposition format (or
// OpenMetrics, when the scraper asks for it).
func (m *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, MaxRequestsInFlight: 4})
}
