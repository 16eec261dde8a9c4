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
// The buckets are kept by a callvault.BucketStore: Memory in this process,
// or the database, which replicas share.
package throttle

import (
	"context"
	"sync"
	"time"

	"github.com/callvault/callvault"
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

// Memory is the in-process callvault.BucketStore: one log of admission
// times per key, kept for one window. Its zero value is ready to use. Its
// buckets are this process's alone.
type Memory struct {
	mu    sync.Mutex
	logs  map[string]*admissions
	takes int // since the last sweep
}

var _ callvault.BucketStore = (*Memory)(nil)

// admissions is one bucket's admission times (Unix nanoseconds), oldest
// first, limited to the last window.
type admissions struct {
	times  []int64
	window time.Duration
}

// expire drops the admissions that left the window at now: those at least
// one window old, so that a request at exactly the retry time is admitted.
func (a *admissions) expire(now int64, w time.Duration) {
	i := 0
	for i < len(a.times) && now-a.times[i] >= int64(w) {
		i++
	}
	if i > 0 {
		a.times = a.times[i:]
	}
}

// TakeBuckets implements callvault.BucketStore.
func (m *Memory) TakeBuckets(_ context.Context, now time.Time, bs []callvault.Bucket) (int, time.Time, error) {
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logs == nil {
		m.logs = map[string]*admissions{}
	}
	m.sweep(t)
	refused, retryAt := -1, time.Time{}
	var small [8]*admissions
	logs := small[:0]
	if len(bs) > len(small) {
		logs = make([]*admissions, 0, len(bs))
	}
	for i, b := range bs {
		a := m.logs[b.Key]
		if a == nil {
			a = &admissions{window: b.Window}
			m.logs[b.Key] = a
		}
		a.window = max(a.window, b.Window)
		a.expire(t, b.Window)
		logs = append(logs, a)
		if n := len(a.times); n >= b.Limit {
			at := time.Unix(0, a.times[n-b.Limit]).Add(b.Window)
			if refused < 0 || at.After(retryAt) {
				refused, retryAt = i, at
			}
		}
	}
	if refused >= 0 {
		return refused, retryAt, nil
	}
	for _, a := range logs {
		if n := len(a.times); n > 0 && a.times[n-1] > t {
			a.times = append(a.times, a.times[n-1]) // a clock that stepped back counts at the newest time
		} else {
			a.times = append(a.times, t)
		}
	}
	return -1, time.Time{}, nil
}

// Restamp moves an admission that TakeBuckets counted at from to the
// later time to, in each bucket of bs. A client-side limiter counts a
// request from when its answer arrived: the server counted it when it
// arrived, somewhere between the two, so a window counted from the answer
// never admits a request that the server still counts the last one against,
// however long the first request waited for its connection. An admission no
// longer in its window is counted again at to.
func (m *Memory) Restamp(from, to time.Time, bs []callvault.Bucket) {
	f, t := from.UnixNano(), max(to.UnixNano(), from.UnixNano())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.logs == nil {
		m.logs = map[string]*admissions{}
	}
	for _, b := range bs {
		a := m.logs[b.Key]
		if a == nil {
			a = &admissions{window: b.Window}
			m.logs[b.Key] = a
		}
		a.remove(f)
		a.insert(t)
	}
}

// remove drops one admission at t, the newest such, if there is one.
func (a *admissions) remove(t int64) {
	for i := len(a.times) - 1; i >= 0 && a.times[i] >= t; i-- {
		if a.times[i] == t {
			a.times = append(a.times[:i], a.times[i+1:]...)
			return
		}
	}
}

// insert counts an admission at t, keeping the times in order.
func (a *admissions) insert(t int64) {
	i := len(a.times)
	for i > 0 && a.times[i-1] > t {
		i--
	}
	a.times = append(a.times, 0)
	copy(a.times[i+1:], a.times[i:])
	a.times[i] = t
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
