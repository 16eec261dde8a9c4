// Package notify delivers Graph change notifications for call records: it
// claims the notifications that the stores wrote to their outbox in each
// record's transaction, batches them by endpoint, POSTs them as Graph does,
// retries with backoff for hours, emulates Graph's rules for slow
// endpoints, sends reauthorizationRequired lifecycle notifications, and
// logs every attempt for the diagnostics endpoint. It also makes the
// validation handshake of a new subscription (validate.go).
//
// Delivery is at least once: a notification leaves the outbox only after
// its endpoint answered 2xx (or it was dropped), so a crash between the
// POST and that commit sends it again after the lease runs out.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/outbound"
)

// Store is what the dispatcher needs of a store.
type Store interface {
	callvault.Outbox
}

// Options tune a Dispatcher; the zero value of each field means its
// default, which is Graph's behaviour where Graph documents one.
type Options struct {
	Poll       time.Duration // how often the outbox is read when idle (250 ms)
	Lease      time.Duration // how long a claimed notification is ours (30 s)
	Timeout    time.Duration // a POST's timeout: Graph's 3 s
	MaxAge     time.Duration // retries stop this long after the commit: Graph's 4 h
	RetryMin   time.Duration // the first retry's delay (10 s), doubling …
	RetryMax   time.Duration // … up to this (10 min: Graph retries failed calls in 10 min)
	BatchSize  int           // notifications in one POST at most (100)
	BatchBytes int           // bytes in one POST at most (1 MiB)
	Workers    int           // POSTs in flight at once (8)
	Delay      Delay         // holds each notification back before its first POST; nil for none
	NoSlowRule bool          // turn off Graph's slow-endpoint throttling
	SlowAnswer time.Duration // an answer slower than this is slow: Graph's 2.9 s
	KeepLog    time.Duration // how long delivery attempts are kept (24 h)
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Poll, 250*time.Millisecond)
	def(&o.Lease, 30*time.Second)
	def(&o.Timeout, 3*time.Second)
	def(&o.MaxAge, 4*time.Hour)
	def(&o.RetryMin, 10*time.Second)
	def(&o.RetryMax, 10*time.Minute)
	def(&o.KeepLog, 24*time.Hour)
	def(&o.SlowAnswer, slowAnswer)
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
}

// Graph's slow-endpoint rule (concepts/change-notifications-delivery-webhooks.md).
const (
	slowAnswer     = 2900 * time.Millisecond // an answer slower than this is "slow"
	slowMinimum    = 100                     // notifications before the rule applies
	slowThrottle   = 0.10                    // this share slow: held back slowDelay
	slowDrop       = 0.15                    // this share slow: dropped
	slowDelay      = 10 * time.Minute
	slowWindow     = 10 * time.Minute // the counts are reset this often
	maxAnswerBytes = 64 << 10         // of an endpoint's answer, read at most
)

// Counters are a dispatcher's totals since it started.
type Counters struct {
	Posts, Delivered, Failed, Retried, Dropped, DroppedSlow, Throttled, Delayed, Lifecycle atomic.Int64
}

// Dispatcher delivers the outbox's notifications. Run it in one goroutine
// per server; any number of servers may share one store.
type Dispatcher struct {
	Store   Store
	Client  *http.Client // an outbound.Policy client; its timeout is Options.Timeout
	Logger  *slog.Logger
	Options Options
	Now     func() time.Time // for tests; time.Now when nil
	Owner   string           // the lease owner's name; random when ""

	Counters Counters

	mu    sync.Mutex
	stats map[string]*endpointStats // by endpoint URL, for the slow rule
	wake  chan struct{}
}

// endpointStats counts, in the current window, the notifications an
// endpoint was sent (the rule applies from the 100th) and the answers it
// gave, and how many were slow: Graph's share is of slow responses, so a
// slow POST of 100 notifications is one slow answer, not 100.
type endpointStats struct {
	since           time.Time
	notified        int
	answers, slowly int
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Wake makes a running dispatcher read the outbox now rather than at its
// next poll: the server calls it after it stored records itself.
func (d *Dispatcher) Wake() {
	d.mu.Lock()
	if d.wake == nil {
		d.wake = make(chan struct{}, 1)
	}
	c := d.wake
	d.mu.Unlock()
	select {
	case c <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then waits for the POSTs in flight and
// settles them.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.Options.defaults()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Owner == "" {
		var b [8]byte
		rand.Read(b[:])
		d.Owner = hex.EncodeToString(b[:])
	}
	d.Wake() // creates the channel; the first pass runs at once
	d.mu.Lock()
	wake := d.wake
	d.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.Options.Workers)
	lastPrune := time.Time{}
	for {
		if t := d.now(); t.Sub(lastPrune) >= time.Minute {
			lastPrune = t
			if err := d.Store.PruneOutbox(ctx, t, t.Add(-d.Options.KeepLog)); err != nil && ctx.Err() == nil {
				d.Logger.Error("prune outbox", "err", err)
			}
		}
		d.lifecycle(ctx, &wg)
		full := false
		if free := d.Options.Workers - len(slots); free > 0 {
			limit := free * d.Options.BatchSize
			ns, err := d.Store.ClaimNotifications(ctx, d.Owner, d.now(), d.Options.Lease, limit)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d.Logger.Error("claim notifications", "err", err)
			}
			full = len(ns) == limit
			for _, post := range d.plan(ctx, ns) {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-slots; wg.Done(); d.Wake() }() // a free worker: claim more at once
					d.deliver(post)
				}()
			}
		}
		if full && len(slots) < d.Options.Workers {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(d.Options.Poll):
		}
	}
}

// post is one POST to make: notifications for one endpoint of one tenant.
type post struct {
	tenant, url string
	ns          []*callvault.Notification
}

// plan settles at once what is not to be sent now (expired subscriptions,
// delayed notifications, endpoints throttled or dropped by the slow rule)
// and groups the rest into POSTs.
func (d *Dispatcher) plan(ctx context.Context, ns []*callvault.Notification) []post {
	if len(ns) == 0 {
		return nil
	}
	now := d.now()
	var settled []callvault.Settlement
	var attempts []callvault.DeliveryAttempt
	groups := map[[2]string][]*callvault.Notification{}
	var order [][2]string
	for _, n := range ns {
		s := &n.Subscription
		switch {
		case !s.ExpirationDateTime.After(now):
			settled = append(settled, callvault.Settlement{Seq: n.Seq, Done: true}) // Graph stops delivering
			continue
		case !n.Deferred && n.Attempts == 0 && d.Options.Delay != nil:
			if at := n.Created.Add(d.Options.Delay(n)); at.After(now) {
				d.Counters.Delayed.Add(1)
				settled = append(settled, callvault.Settlement{Seq: n.Seq, RetryAt: at})
				continue
			}
		}
		switch d.slowRule(s.NotificationURL, now) {
		case slowDropped:
			d.Counters.DroppedSlow.Add(1)
			settled = append(settled, callvault.Settlement{Seq: n.Seq, Done: true})
			attempts = append(attempts, attempt(n, now, "dropped", "the endpoint answered too slowly too often (Graph's slow-endpoint rule: 15 %)"))
			d.Logger.Warn("notification dropped: slow endpoint", "subscription", s.ID, "host", hostOf(s.NotificationURL), "record", n.RecordID)
			continue
		case slowThrottled:
			d.Counters.Throttled.Add(1)
			settled = append(settled, callvault.Settlement{Seq: n.Seq, RetryAt: now.Add(slowDelay)})
			continue
		}
		key := [2]string{s.Tenant, s.NotificationURL}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], n)
	}
	d.settle(ctx, settled, attempts)

	var posts []post
	for _, key := range order {
		g := groups[key]
		sort.SliceStable(g, func(i, j int) bool { return g[i].Created.Before(g[j].Created) })
		start, size := 0, 0
		for i, n := range g {
			item := len(AppendNotification(nil, n)) + 1
			if i > start && (i-start >= d.Options.BatchSize || size+item > d.Options.BatchBytes) {
				posts = append(posts, post{key[0], key[1], g[start:i]})
				start, size = i, 0
			}
			size += item
		}
		posts = append(posts, post{key[0], key[1], g[start:]})
	}
	return posts
}

type slowVerdict int

const (
	slowOK slowVerdict = iota
	slowThrottled
	slowDropped
)

// slowRule applies Graph's rule for slow endpoints to the endpoint u.
func (d *Dispatcher) slowRule(u string, now time.Time) slowVerdict {
	if d.Options.NoSlowRule {
		return slowOK
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.endpoint(u, now)
	if st.notified < slowMinimum || st.answers == 0 {
		return slowOK
	}
	share := float64(st.slowly) / float64(st.answers)
	switch {
	case share >= slowDrop:
		return slowDropped
	case share >= slowThrottle:
		return slowThrottled
	}
	return slowOK
}

// endpoint returns the counts of u, reset when its window is over. d.mu is
// held.
func (d *Dispatcher) endpoint(u string, now time.Time) *endpointStats {
	if d.stats == nil {
		d.stats = map[string]*endpointStats{}
	}
	st := d.stats[u]
	if st == nil || now.Sub(st.since) >= slowWindow {
		st = &endpointStats{since: now}
		d.stats[u] = st
	}
	return st
}

// deliver makes one POST and settles its notifications.
func (d *Dispatcher) deliver(p post) {
	body := AppendNotifications(make([]byte, 0, 512*len(p.ns)), p.ns)
	start := d.now()
	status, err := d.postJSON(p.url, body)
	latency := d.now().Sub(start)
	d.Counters.Posts.Add(1)

	if !d.Options.NoSlowRule {
		d.mu.Lock()
		st := d.endpoint(p.url, start)
		st.notified += len(p.ns)
		st.answers++
		if latency > d.Options.SlowAnswer || isTimeout(err) {
			st.slowly++
		}
		d.mu.Unlock()
	}

	now := d.now()
	ok := err == nil && status >= 200 && status < 300
	reason := ""
	if err != nil {
		reason = err.Error()
	} else if !ok {
		reason = fmt.Sprintf("the endpoint answered %d", status)
	}
	settled := make([]callvault.Settlement, 0, len(p.ns))
	outcome := map[int64]string{}
	// The notifications of a failed POST that were tried as often retry
	// together, in one POST again: one draw of the backoff's jitter for
	// them, not one each, which would split a batch of 100 into up to 100.
	retryAt := map[int]time.Time{}
	for _, n := range p.ns {
		switch {
		case ok:
			settled = append(settled, callvault.Settlement{Seq: n.Seq, Done: true})
			outcome[n.Seq] = "delivered"
			d.Counters.Delivered.Add(1)
		case now.Sub(n.Created) >= d.Options.MaxAge:
			settled = append(settled, callvault.Settlement{Seq: n.Seq, Done: true})
			outcome[n.Seq] = "dropped"
			d.Counters.Dropped.Add(1)
			d.Logger.Warn("notification dropped: retried for too long", "subscription", n.Subscription.ID,
				"host", hostOf(p.url), "record", n.RecordID, "change", n.Change.String(), "attempts", n.Attempts+1, "since", n.Created)
		default:
			at, drawn := retryAt[n.Attempts]
			if !drawn {
				at = now.Add(d.backoff(n.Attempts + 1))
				retryAt[n.Attempts] = at
			}
			settled = append(settled, callvault.Settlement{Seq: n.Seq, RetryAt: at, Attempted: true})
			outcome[n.Seq] = "retry"
			d.Counters.Retried.Add(1)
		}
	}
	if !ok {
		d.Counters.Failed.Add(1)
	}
	// One attempt line per subscription the POST carried.
	var attempts []callvault.DeliveryAttempt
	bySub := map[string]int{}
	for _, n := range p.ns {
		i, seen := bySub[n.Subscription.ID]
		if !seen {
			bySub[n.Subscription.ID] = len(attempts)
			a := attempt(n, start, outcome[n.Seq], reason)
			a.Status, a.Latency, a.Notifications = status, latency, 0
			attempts = append(attempts, a)
			i = len(attempts) - 1
		}
		attempts[i].Notifications++
		attempts[i].Attempt = max(attempts[i].Attempt, n.Attempts+1)
		if outcome[n.Seq] == "dropped" {
			attempts[i].Outcome = "dropped"
		}
	}
	level := slog.LevelInfo
	if !ok {
		level = slog.LevelWarn
	}
	d.Logger.Log(context.Background(), level, "notification delivery", "tenant", p.tenant, "host", hostOf(p.url),
		"subscriptions", len(attempts), "notifications", len(p.ns), "status", status, "latency", latency.Round(time.Millisecond),
		"attempt", attempts[0].Attempt, "err", reason)
	d.settle(context.Background(), settled, attempts)
}

// settle records settlements and attempts, with a context of its own: a
// POST that was made must be recorded even while the server stops.
func (d *Dispatcher) settle(ctx context.Context, settled []callvault.Settlement, attempts []callvault.DeliveryAttempt) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := d.Store.SettleNotifications(ctx, d.Owner, settled); err != nil {
		d.Logger.Error("settle notifications", "err", err, "notifications", len(settled))
	}
	if err := d.Store.AddDeliveryAttempts(ctx, attempts); err != nil {
		d.Logger.Error("log delivery attempts", "err", err)
	}
}

// backoff is the delay before retry n (1 for the first): RetryMin doubling
// up to RetryMax, less up to a fifth at random so that the retries of many
// failed POSTs spread out.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := float64(d.Options.RetryMin) * math.Pow(2, float64(min(n-1, 30)))
	b = min(b, float64(d.Options.RetryMax))
	return time.Duration(b * (1 - 0.2*mrand.Float64()))
}

// postJSON POSTs body to u and returns the status.
func (d *Dispatcher) postJSON(u string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.Options.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := d.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	outbound.ReadBody(resp.Body, maxAnswerBytes) // drained so the connection is reused
	return resp.StatusCode, nil
}

// attempt returns the attempt line of n's subscription.
func attempt(n *callvault.Notification, t time.Time, outcome, reason string) callvault.DeliveryAttempt {
	return callvault.DeliveryAttempt{
		Time: t, Tenant: n.Subscription.Tenant, SubscriptionID: n.Subscription.ID, Kind: "notification",
		URL: redactURL(n.Subscription.NotificationURL), Notifications: 1, Attempt: n.Attempts + 1,
		Outcome: outcome, Error: reason,
	}
}

// redactURL drops the query and user info of u: they may hold secrets.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: p.Scheme, Host: p.Host, Path: p.Path}).String()
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// Delay says how long to hold a notification back after its record's
// commit, before its first POST.
type Delay func(n *callvault.Notification) time.Duration

// unit returns a number in [0, 1) fixed by the notification, so that a
// delay is the same whichever replica computes it, and again after a
// restart.
func unit(n *callvault.Notification) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", n.Subscription.ID, n.RecordID, n.Change, n.Created.UnixNano())
	return float64(h.Sum64()>>11) / (1 << 53)
}
