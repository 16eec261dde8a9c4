// Package throttle emulates Microsoft Graph's throttling of the callRecords
// API: the documented buckets (per app, per tenant, per app per tenant, per
// call record, for listing, and the report functions' own), which of them a
// request falls in, and the Retry-After a refused request is given.
//
// A bucket admits at most Limit.Requests requests in any Limit.Window: it is a
// sliding log, not a token bucket, so that "40 requests per 20 seconds" holds
// over every 20 seconds, as Graph documents it. A refused request is not
// counted; it is told to come back when the oldest request that fills the
// bucket leaves the window, and a request at exactly that time is admitted.
package throttle

import (
	"context"
	"sync"
	"time"
)

// Limit is one of Graph's buckets: at most Requests in any Window.
type Limit struct {
	Requests int
	Window   time.Duration
}

// Off reports whether the limit admits everything.
func (l Limit) Off() bool { return l.Requests <= 0 || l.Window <= 0 }

// Bucket is one counter a request falls in: its name (the row of Graph's
// limits table, for logs), its key (whose requests it counts) and its limit.
type Bucket struct {
	Name  string
	Key   string
	Limit Limit
}

// Decision is what Buckets.Take answers.
type Decision struct {
	Allowed bool
	// RetryAt is, for a refused request, the earliest time at which every
	// bucket that refused it would admit it.
	RetryAt time.Time
	// Refused names the bucket whose RetryAt is the latest, and its key.
	Refused    string
	RefusedKey string
}

// Buckets counts requests. Implementations are safe for concurrent use.
type Buckets interface {
	// Take admits a request that falls in every bucket of bs at now and
	// counts it in each of them, or refuses it and counts it in none.
	Take(ctx context.Context, now time.Time, bs []Bucket) (Decision, error)
}

// Memory is the in-process implementation of Buckets: one log of admission
// times per key, kept for one window. Its zero value is ready to use. Its
// buckets are this process's alone: replicas behind one load balancer each
// admit Graph's rate.
type Memory struct {
	mu    sync.Mutex
	logs  map[string]*admissions
	takes int // since the last sweep
}

// admissions is one bucket's admission times (Unix nanoseconds), oldest
// first, limited to the last window.
type admissions struct {
	times  []int64
	window time.Duration
}

// expire drops the admissions that left the window at now: those at least
// one window old, so that a request at exactly RetryAt is admitted.
func (a *admissions) expire(now int64, w time.Duration) {
	i := 0
	for i < len(a.times) && now-a.times[i] >= int64(w) {
		i++
	}
	if i > 0 {
		a.times = a.times[i:]
	}
}

// Take implements Buckets.
func (m *Memory) Take(_ context.Context, now time.Time, bs []Bucket) (Decision, error) {
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logs == nil {
		m.logs = map[string]*admissions{}
	}
	m.sweep(t)
	var d Decision
	var small [8]*admissions
	logs := small[:0]
	if len(bs) > len(small) {
		logs = make([]*admissions, 0, len(bs))
	}
	logs = logs[:len(bs)]
	for i, b := range bs {
		if b.Limit.Off() {
			continue
		}
		a := m.logs[b.Key]
		if a == nil {
			a = &admissions{window: b.Limit.Window}
			m.logs[b.Key] = a
		}
		a.window = max(a.window, b.Limit.Window)
		a.expire(t, b.Limit.Window)
		logs[i] = a
		if n := len(a.times); n >= b.Limit.Requests {
			at := time.Unix(0, a.times[n-b.Limit.Requests]).Add(b.Limit.Window)
			if d.Refused == "" || at.After(d.RetryAt) {
				d.RetryAt, d.Refused, d.RefusedKey = at, b.Name, b.Key
			}
		}
	}
	if d.Refused != "" {
		return d, nil
	}
	for _, a := range logs {
		if a == nil {
			continue
		}
		if n := len(a.times); n > 0 && a.times[n-1] > t {
			a.times = append(a.times, a.times[n-1]) // a clock that stepped back counts at the newest time
		} else {
			a.times = append(a.times, t)
		}
	}
	d.Allowed = true
	return d, nil
}

// sweep forgets the keys with no admission left in their window, once for
// every as many takes as there are keys: constant work per take on average.
func (m *Memory) sweep(now int64) {
	m.takes++
	if m.takes < len(m.logs) || m.takes < 64 {
		return
	}
	m.takes = 0
	for k, a := range m.logs {
		if n := len(a.times); n == 0 || now-a.times[n-1] >= int64(a.window) {
			delete(m.logs, k)
		}
	}
}

// Len returns how many keys m holds (for tests).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.logs)
}
