package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/notify"
	"github.com/callvault/callvault/outbound"
)

// notifyConfig is serve's change notifications: the subscriptions API, the
// rules for the webhooks it calls and the dispatcher that delivers.
type notifyConfig struct {
	allowHTTP   bool
	caFile      string
	allow, deny string
	delay       string
	maxAge      time.Duration
	retry       time.Duration
	lease       time.Duration
	noSlowRule  bool
	noDispatch  bool
	batch       int
	mirrorInbox bool // serve graph.MirrorInboxPath

	dispatcher *notify.Dispatcher // what start made, for metrics (ops.go); nil when none
}

func (c *notifyConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.allowHTTP, "allow-http-webhooks", false, "also allow plain http notification and lifecycle URLs (local development);\nGraph, and callvault by default, call https URLs only")
	fs.StringVar(&c.caFile, "webhook-ca", "", "a PEM `file` of CA certificates trusted for https webhooks, besides the system's")
	fs.StringVar(&c.allow, "webhook-allow", "", "comma-separated `CIDRs`: when set, webhooks may only be called at these addresses")
	fs.StringVar(&c.deny, "webhook-deny", "", "comma-separated `CIDRs` webhooks are never called at (link-local and cloud metadata\naddresses are always refused); checked on the address actually dialled")
	fs.StringVar(&c.delay, "notify-delay", "0", "hold each notification back after its record is stored: 0 (leave within a second),\na `duration` (30s), a range (10s-2m), or graph (Graph's latency: 30 min average, 150 at most)")
	fs.DurationVar(&c.maxAge, "notify-max-age", 4*time.Hour, "retry a failing webhook this long after the record was stored, then drop the notification (Graph: 4h)")
	fs.DurationVar(&c.retry, "notify-retry", 10*time.Second, "the delay before the first retry of a failed delivery; it doubles up to 10 minutes")
	fs.DurationVar(&c.lease, "notify-lease", 30*time.Second, "how long a server holds notifications it is delivering before another\n(or itself, after a crash) may take them over")
	fs.BoolVar(&c.noSlowRule, "notify-no-slow-rule", false, "turn off Graph's slow-endpoint rule (over 100 notifications, 10 % answered after 2.9 s:\nheld back 10 minutes; 15 %: dropped)")
	fs.BoolVar(&c.noDispatch, "notify-no-dispatch", false, "serve /subscriptions but deliver nothing from this server (another replica delivers)")
	fs.IntVar(&c.batch, "notify-batch", 100, "the most notifications in one POST")
	fs.BoolVar(&c.mirrorInbox, "mirror-inbox", false, "serve POST "+graph.MirrorInboxPath+", where a source that 'callvault mirror --notify-url'\nsubscribed to sends its change notifications (checked by their clientState), for the mirror to fetch")
}

func (c *notifyConfig) check() error {
	if _, err := notify.ParseDelay(c.delay); err != nil {
		return fmt.Errorf("%w: --notify-delay: %v", errUsage, err)
	}
	if c.maxAge <= 0 || c.retry <= 0 || c.lease <= 0 || c.batch < 1 {
		return fmt.Errorf("%w: --notify-max-age, --notify-retry and --notify-lease must be positive, --notify-batch 1 or more", errUsage)
	}
	if _, err := outbound.ParsePrefixes(c.allow); err != nil {
		return fmt.Errorf("%w: --webhook-allow: %v", errUsage, err)
	}
	if _, err := outbound.ParsePrefixes(c.deny); err != nil {
		return fmt.Errorf("%w: --webhook-deny: %v", errUsage, err)
	}
	return nil
}

func (c *notifyConfig) policy() (outbound.Policy, error) {
	p := outbound.Policy{AllowHTTP: c.allowHTTP}
	var err error
	if p.Allow, err = outbound.ParsePrefixes(c.allow); err != nil {
		return p, err
	}
	if p.Deny, err = outbound.ParsePrefixes(c.deny); err != nil {
		return p, err
	}
	if c.caFile != "" {
		if p.RootCAs, err = outbound.LoadRoots(c.caFile); err != nil {
			return p, fmt.Errorf("--webhook-ca: %w", err)
		}
	}
	return p, nil
}

// start gives srv the subscriptions API and the diagnostics endpoint, and
// starts the dispatcher; the returned function stops it and waits for the
// deliveries in flight. A store without subscriptions gets neither.
func (c *notifyConfig) start(ctx context.Context, srv *graph.Server, store callvault.Store, logger *slog.Logger) (wake func(), stop func(), err error) {
	subs, ok1 := store.(callvault.SubscriptionStore)
	outbox, ok2 := store.(callvault.Outbox)
	if !ok1 || !ok2 {
		return func() {}, func() {}, nil
	}
	policy, err := c.policy()
	if err != nil {
		return nil, nil, err
	}
	srv.Subscriptions = &graph.Subscriptions{
		Store:    subs,
		Policy:   policy,
		Client:   policy.Client(notify.ValidationTimeout),
		HTTPHint: " Start serve with --allow-http-webhooks to allow plain http for local development.",
	}
	if srv.Extra == nil {
		srv.Extra = http.NewServeMux()
	}
	srv.Extra.Handle(graph.DeliveriesPath, srv.DeliveriesHandler(outbox))
	if ms, ok := store.(callvault.MirrorStore); ok && c.mirrorInbox {
		srv.Extra.Handle(graph.MirrorInboxPath, srv.MirrorInboxHandler(ms))
	}
	if c.noDispatch {
		return func() {}, func() {}, nil
	}
	delay, _ := notify.ParseDelay(c.delay)
	d := &notify.Dispatcher{
		Store:  outbox,
		Client: policy.Client(3 * time.Second),
		Logger: logger.With("component", "notify"),
		Options: notify.Options{
			Lease: c.lease, MaxAge: c.maxAge, RetryMin: c.retry, BatchSize: c.batch,
			Delay: delay, NoSlowRule: c.noSlowRule,
		},
	}
	c.dispatcher = d
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.Run(ctx); err != nil {
			logger.Error("notification dispatcher stopped", "err", err)
		}
	}()
	stop = func() {
		cancel()
		wg.Wait()
		k := &d.Counters
		logger.Info("notification dispatcher stopped", "posts", k.Posts.Load(), "delivered", k.Delivered.Load(),
			"retried", k.Retried.Load(), "dropped", k.Dropped.Load()+k.DroppedSlow.Load(), "lifecycle", k.Lifecycle.Load())
	}
	return d.Wake, stop, nil
}

// wakeAfter calls wake after h served a request, so that what the request
// stored is delivered without waiting for the next poll.
func wakeAfter(h http.Handler, wake func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		wake()
	})
}
