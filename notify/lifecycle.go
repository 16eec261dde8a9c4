package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault"
)

// NextLifecycle returns when the next reauthorizationRequired notification
// of a subscription expiring at expiry is due, seen from now; zero when
// none is. Graph sends the challenge more often as expiry nears: callvault
// sends it when half the time left has passed, then again at each half of
// what is left, and every 15 minutes in the last hour (docs/notifications.md).
func NextLifecycle(now, expiry time.Time) time.Time {
	left := expiry.Sub(now)
	switch {
	case left <= 0:
		return time.Time{}
	case left > 2*time.Hour:
		return now.Add(left / 2)
	case left > time.Hour:
		return expiry.Add(-time.Hour)
	}
	next := now.Add(15 * time.Minute)
	if !next.Before(expiry) {
		return time.Time{}
	}
	return next
}

// lifecycleRetry is how soon a lifecycle notification that failed is sent
// again.
const lifecycleRetry = time.Minute

// lifecycle sends the lifecycle notifications that are due, each endpoint's
// in one POST, in goroutines wg tracks.
func (d *Dispatcher) lifecycle(ctx context.Context, wg *sync.WaitGroup) {
	subs, err := d.Store.ClaimLifecycle(ctx, d.Owner, d.now(), d.Options.Lease, 100)
	if err != nil {
		if ctx.Err() == nil {
			d.Logger.Error("claim lifecycle notifications", "err", err)
		}
		return
	}
	groups := map[[2]string][]*callvault.Subscription{}
	for _, s := range subs {
		key := [2]string{s.Tenant, s.LifecycleNotificationURL}
		groups[key] = append(groups[key], s)
	}
	for key, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.sendLifecycle(key[0], key[1], g)
		}()
	}
}

func (d *Dispatcher) sendLifecycle(tenant, u string, subs []*callvault.Subscription) {
	start := d.now()
	status, err := d.postJSON(u, AppendLifecycle(nil, subs))
	latency := d.now().Sub(start)
	ok := err == nil && status >= 200 && status < 300
	reason, outcome := "", "delivered"
	if err != nil {
		reason, outcome = err.Error(), "retry"
	} else if !ok {
		reason, outcome = fmt.Sprintf("the endpoint answered %d", status), "retry"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var attempts []callvault.DeliveryAttempt
	for _, s := range subs {
		next := NextLifecycle(d.now(), s.ExpirationDateTime)
		if ok {
			d.Counters.Lifecycle.Add(1)
		} else if retry := d.now().Add(lifecycleRetry); retry.Before(s.ExpirationDateTime) {
			next = retry
		}
		if err := d.Store.SetNextLifecycle(ctx, s.Tenant, s.ID, next); err != nil {
			d.Logger.Error("schedule lifecycle notification", "subscription", s.ID, "err", err)
		}
		attempts = append(attempts, callvault.DeliveryAttempt{
			Time: start, Tenant: tenant, SubscriptionID: s.ID, Kind: "lifecycle", URL: redactURL(u),
			Notifications: 1, Attempt: 1, Status: status, Error: reason, Latency: latency, Outcome: outcome,
		})
	}
	level := slog.LevelInfo
	if !ok {
		level = slog.LevelWarn
	}
	d.Logger.Log(ctx, level, "lifecycle notification", "event", "reauthorizationRequired", "tenant", tenant,
		"host", hostOf(u), "subscriptions", len(subs), "status", status, "latency", latency.Round(time.Millisecond), "err", reason)
	if err := d.Store.AddDeliveryAttempts(ctx, attempts); err != nil {
		d.Logger.Error("log delivery attempts", "err", err)
	}
}

// ParseDelay parses the --notify-delay flag:
//
//	0 or ""       none: a notification leaves within a second of the commit
//	30s, 2m       a fixed delay
//	10s-2m        uniform between the two
//	graph         Graph's documented latency for callRecords: 30 minutes on
//	              average, 150 at most (an exponential distribution cut at
//	              150 minutes)
//
// The delay of each notification is fixed by the notification itself, so
// that every replica, and a restarted server, holds it back alike.
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0":
		return nil, nil
	case "graph":
		const mean, most = 30 * time.Minute, 150 * time.Minute
		return func(n *callvault.Notification) time.Duration {
			d := time.Duration(-float64(mean) * math.Log(1-unit(n)))
			return min(d, most)
		}, nil
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := time.ParseDuration(lo)
		b, err2 := time.ParseDuration(hi)
		if err1 != nil || err2 != nil || a < 0 || b < a {
			return nil, fmt.Errorf("notify delay %q: a range is MIN-MAX, two durations with MIN <= MAX, such as 10s-2m", s)
		}
		return func(n *callvault.Notification) time.Duration {
			return a + time.Duration(unit(n)*float64(b-a))
		}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("notify delay %q: use 0, a duration such as 30s, a range such as 10s-2m, or graph", s)
	}
	if d == 0 {
		return nil, nil
	}
	return func(*callvault.Notification) time.Duration { return d }, nil
}
