package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/metrics"
	"github.com/callvault/callvault/notify"
	"github.com/callvault/callvault/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

// opsConfig is what serve offers operators besides the API: Prometheus
// metrics on a listener of their own, and how long a stop may take
// (docs/operations.md).
type opsConfig struct {
	metricsAddr     string
	shutdownTimeout time.Duration

	metricsServer *http.Server // started by start when --metrics-addr is set
}

func (c *opsConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`host:port`/metrics, a listener apart from the API's\n(no token: keep it on loopback or a private network); off when empty")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM or SIGINT, stop accepting connections and let the requests in flight finish for\nat most this long; those still running then are cut off and serve exits with status 1")
}

func (c *opsConfig) check() error {
	if c.shutdownTimeout <= 0 {
		return fmt.Errorf("%w: --shutdown-timeout must be positive", errUsage)
	}
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			return fmt.Errorf("%w: --metrics-addr %q: %v", errUsage, c.metricsAddr, err)
		}
	}
	return nil
}

// start serves the metrics when --metrics-addr is set: srv's requests and
// ingests, and the dispatcher's and limiter's totals when there are
// (either may be nil). It prints the listener's URL on standard output.
func (c *opsConfig) start(srv *graph.Server, dispatcher *notify.Dispatcher, limiter *throttle.Limiter, logger *slog.Logger, std stdio) error {
	if c.metricsAddr == "" {
		return nil
	}
	b := readBuild()
	reg := metrics.New(b.Version, b.Revision, b.Go)
	srv.Observe = func(_ *http.Request, info graph.RequestInfo) {
		reg.Observe(metrics.Request{Route: info.Route, Version: info.Version, Method: info.Method,
			Status: info.Status, Bytes: info.Bytes, Duration: info.Duration, Store: info.Store})
	}
	if v, ok := srv.Auth.(*auth.Verifier); ok {
		reg.Counter("token_cache_total", "Bearer tokens looked up in the verifier's cache, by result: hit (the signature check skipped) or miss.",
			prometheus.Labels{"result": "hit"}, v.Cache.Hits.Load)
		reg.Counter("token_cache_total", "Bearer tokens looked up in the verifier's cache, by result: hit (the signature check skipped) or miss.",
			prometheus.Labels{"result": "miss"}, v.Cache.Misses.Load)
	}
	pc := &srv.PageCache
	for _, o := range []struct {
		result string
		n      func() int64
	}{{"hit", pc.Hits.Load}, {"stale", pc.Stale.Load}} {
		reg.Counter("page_cache_total", "Requests for a large gzip page of sessions that found it kept, by result: hit (sent from memory, the record unchanged) or stale (the record written since: read and rendered anew).",
			prometheus.Labels{"result": o.result}, o.n)
	}
	reg.Counter("page_cache_kept_total", "Large gzip pages of sessions compressed and kept, with their record's stamp.", nil, pc.Kept.Load)
	reg.Gauge("page_cache_bytes", "Compressed bytes of the kept pages of sessions (at most --page-cache).", nil, func() float64 { return float64(srv.PageCacheBytes()) })
	in := &srv.Ingested
	reg.Counter("ingest_requests_total", "Ingest API requests whose records were validated and stored (or refused one by one).", nil, in.Requests.Load)
	for _, o := range []struct {
		outcome string
		n       func() int64
	}{{"inserted", in.Inserted.Load}, {"replaced", in.Replaced.Load}, {"stale", in.Stale.Load}, {"rejected", in.Rejected.Load}} {
		reg.Counter("ingest_records_total", "Call records the ingest API received, by outcome: inserted, replaced (a higher version), stale (skipped: the store holds a higher version), rejected (invalid).",
			prometheus.Labels{"outcome": o.outcome}, o.n)
	}
	reg.Counter("ingest_sessions_total", "Sessions of the call records the ingest API stored.", nil, in.Sessions.Load)
	if d := dispatcher; d != nil {
		k := &d.Counters
		registerCounters(reg, "notify_", []counter{
			{"posts", "POSTs of change notifications to webhooks.", k.Posts.Load},
			{"delivered", "Notifications a webhook accepted.", k.Delivered.Load},
			{"failed", "Deliveries that failed (and will be retried or dropped).", k.Failed.Load},
			{"retried", "Notifications scheduled for another attempt after a failure.", k.Retried.Load},
			{"dropped", "Notifications given up after --notify-max-age.", k.Dropped.Load},
			{"dropped_slow", "Notifications dropped by Graph's slow-endpoint rule.", k.DroppedSlow.Load},
			{"throttled", "Notifications held back by Graph's slow-endpoint rule.", k.Throttled.Load},
			{"delayed", "Notifications held back by --notify-delay.", k.Delayed.Load},
			{"lifecycle", "Lifecycle notifications sent (reauthorizationRequired, subscriptionRemoved…).", k.Lifecycle.Load},
		})
	}
	if l := limiter; l != nil {
		k := &l.Counters
		registerCounters(reg, "throttle_", []counter{
			{"admitted", "Requests the emulated Graph throttling let through.", k.Admitted.Load},
			{"throttled", "Requests it refused with a 429.", k.Throttled.Load},
			{"early", "Requests refused again for coming before their Retry-After (--throttle-strict).", k.Early.Load},
			{"retries", "Requests that came again after a 429.", k.Retries.Load},
		})
	}
	ms, err := serveMetrics(c.metricsAddr, reg, logger, std)
	c.metricsServer = ms
	return err
}

// counter is a total kept elsewhere that a Registry exposes.
type counter struct {
	name, help string
	n          func() int64
}

// registerCounters exposes each counter as callvault_PREFIXNAME_total.
func registerCounters(reg *metrics.Registry, prefix string, cs []counter) {
	for _, c := range cs {
		reg.Counter(prefix+c.name+"_total", c.help, nil, c.n)
	}
}

// serveMetrics serves reg at http://addr/metrics until the returned server
// is closed, and prints its URL on standard output.
func serveMetrics(addr string, reg *metrics.Registry, logger *slog.Logger, std stdio) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	ms := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := ms.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics listener stopped", "err", err)
		}
	}()
	fmt.Fprintf(std.out, "callvault metrics on http://%s/metrics\n", ln.Addr())
	return ms, nil
}

// shutdown runs once the context of serve is done (SIGTERM, SIGINT): hs
// stops accepting connections at once and its requests in flight get
// --shutdown-timeout to finish; then the connections left are closed and
// shutdown says so. served is the error of hs.Serve.
func (c *opsConfig) shutdown(hs *http.Server, served <-chan error, logger *slog.Logger) error {
	logger.Info("shutting down: draining requests in flight", "timeout", c.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(ctx)
	if c.metricsServer != nil {
		c.metricsServer.Close() // a scrape is cheap: nothing to drain
	}
	if err != nil {
		hs.Close()
		logger.Warn("requests still in flight after --shutdown-timeout were cut off", "timeout", c.shutdownTimeout)
		return fmt.Errorf("requests still in flight after --shutdown-timeout %s were cut off", c.shutdownTimeout)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped: every request in flight finished")
	return nil
}
