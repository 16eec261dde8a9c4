package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/faults"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/throttle"
)

// throttleConfig is serve's emulation of Graph's throttling and failures:
// the buckets of --throttle and the fault profile of --faults, composed in
// one graph.Gate. Both flags are read and validated when they are set, so
// a bad profile stops serve before it opens the store.
type throttleConfig struct {
	limits limitsFlag
	strict bool
	faults faultsFlag

	limiter *throttle.Limiter // what apply made, for metrics (ops.go); nil when off
}

// limitsFlag is --throttle: off, graph or a profile file, parsed.
type limitsFlag struct {
	spec   string
	limits throttle.Limits
	on     bool
}

func (f *limitsFlag) String() string {
	if f.spec == "" {
		return "off"
	}
	return f.spec
}

func (f *limitsFlag) Set(s string) error {
	l, on, err := throttle.LoadLimits(s)
	if err != nil {
		return fmt.Errorf("%v (use graph, off or a profile file)", err)
	}
	*f = limitsFlag{spec: s, limits: l, on: on}
	return nil
}

// faultsFlag is --faults: a shipped profile's name or a file, parsed.
type faultsFlag struct {
	spec    string
	profile *faults.Profile
}

func (f *faultsFlag) String() string { return f.spec }

func (f *faultsFlag) Set(s string) error {
	if s == "" {
		*f = faultsFlag{}
		return nil
	}
	p, err := faults.Load(s)
	if err != nil {
		return err
	}
	*f = faultsFlag{spec: s, profile: p}
	return nil
}

func (c *throttleConfig) register(fs *flag.FlagSet) {
	fs.Var(&c.limits, "throttle", "throttle as Graph does: graph (Graph's documented limits: 40 requests per 20 s per call record\nand for listing, 1,500 per 20 s per app per tenant…), off, or a profile `FILE` that scales or\nreplaces each limit (docs/throttling.md); over a limit: Graph's 429 with Retry-After")
	fs.BoolVar(&c.strict, "throttle-strict", false, "with --throttle: refuse again, and count, a request sent before the Retry-After its bucket\ngave had elapsed (as Dev Proxy's RetryAfterPlugin does)")
	fs.Var(&c.faults, "faults", "a fault profile: graph-typical, chaos or a JSON `FILE` of seeded errors (429, 5xx, empty 4xx),\nlatency, dropped connections and records not yet there, per route and method (docs/throttling.md)")
}

func (c *throttleConfig) check() error {
	if c.strict && !c.limits.on {
		return fmt.Errorf("%w: --throttle-strict needs --throttle graph or a profile", errUsage)
	}
	return nil
}

// apply gives srv a Gate when throttling or faults are on. Their log lines
// carry running totals (throttled_total, early_retries_total…).
func (c *throttleConfig) apply(srv *graph.Server, store callvault.Store, logger *slog.Logger) error {
	if err := c.check(); err != nil {
		return err
	}
	g := &gate{store: store, faults: c.faults.profile, logger: logger.With("component", "throttle")}
	if c.limits.on {
		// The database's buckets when it keeps them, so that replicas share
		// Graph's limits; this process's otherwise.
		var buckets callvault.BucketStore = &throttle.Memory{}
		where := "memory"
		if shared, ok := store.(callvault.BucketStore); ok {
			buckets, where = shared, "database"
		}
		g.limiter = &throttle.Limiter{Limits: c.limits.limits, Buckets: buckets, Strict: c.strict, Logger: g.logger}
		g.where = where
		c.limiter = g.limiter
	}
	if g.limiter == nil && g.faults == nil {
		return nil
	}
	srv.Gate = g.decide
	logger.Info("emulating Graph's throttling and faults", "throttle", c.limits.String(), "buckets", g.where, "strict", c.strict, "faults", c.faults.spec)
	return nil
}

// gate composes the fault profile and the buckets: the profile's latency
// first, then the buckets (a faulted request was counted, as on Graph),
// then the profile's fault, then "not yet there".
type gate struct {
	limiter *throttle.Limiter
	faults  *faults.Profile
	store   callvault.Store
	logger  *slog.Logger
	where   string // where the buckets are kept: memory or database
}

func (g *gate) decide(r *http.Request, req graph.GateRequest) *graph.Refusal {
	ctx := r.Context()
	var o faults.Outcome
	if g.faults != nil {
		o = g.faults.Decide(r.Method, req.Path)
		if o.Delay > 0 {
			t := time.NewTimer(o.Delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return &graph.Refusal{Drop: true} // the client left
			}
		}
	}
	if g.limiter != nil {
		v, err := g.limiter.Admit(ctx, throttle.Request{Path: req.Path, Tenant: req.Principal.Tenant, App: req.Principal.AppID,
			RequestID: req.RequestID, RetryAttempt: r.Header.Get("Retry-Attempt")})
		if err != nil {
			// Fail open: a broken counter must not take the API down.
			g.logger.ErrorContext(ctx, "throttling buckets failed: serving the request", "request_id", req.RequestID, "err", err)
		} else if !v.Allowed {
			return &graph.Refusal{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(v.RetryAfter)}
		}
	}
	if f := o.Fault; f != nil {
		g.logger.InfoContext(ctx, "fault", "request_id", req.RequestID, "rule", o.Rule, "status", f.Status, "drop", f.Drop, "retry_after", f.RetryAfter)
		return &graph.Refusal{Status: f.Status, Code: f.Code, Message: f.Message, RetryAfter: f.RetryAfter, Drop: f.Drop}
	}
	if o.NotYetThere > 0 {
		rt := throttle.RouteOf(req.Path)
		if rt.Kind == throttle.List {
			// The list leaves out what a record's own path would 404.
			return &graph.Refusal{NotYetThere: time.Now().Add(-o.NotYetThere)}
		}
		if rt.Kind == throttle.Record {
			h, err := g.store.GetRecord(ctx, req.Principal.Tenant, rt.Record)
			if err == nil && time.Now().Before(h.EndDateTime.Add(o.NotYetThere)) {
				g.logger.InfoContext(ctx, "fault: not yet there", "request_id", req.RequestID, "rule", o.Rule, "record", rt.Record,
					"there_at", h.EndDateTime.Add(o.NotYetThere))
				return &graph.Refusal{Status: http.StatusNotFound, Code: "NotFound", Message: fmt.Sprintf("The callRecord '%s' was not found.", rt.Record)}
			}
		}
	}
	return nil
}
