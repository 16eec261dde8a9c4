package throttle

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
)

// Request is what the limiter needs of an authenticated Graph request.
type Request struct {
	Path         string // the escaped path after /{version}/
	Tenant, App  string // the token's tid and appid
	RequestID    string // for the log line
	RetryAttempt string // the Retry-After header the SDKs' retry handlers send, "" when absent
}

// Verdict is the limiter's answer. A refused request gets a 429 with
// Retry-After: RetryAfter seconds.
type Verdict struct {
	Allowed    bool
	RetryAfter int    // whole seconds, at least 1, when refused
	Bucket     string // the bucket that refused, for logs only
	Early      bool   // refused in strict mode: it came before a Retry-After it was given had elapsed
}

// Counters count what the limiter decided since it started.
type Counters struct {
	Admitted, Throttled, Early, Retries atomic.Int64
}

// Limiter decides whether a request is served under Graph's limits.
type Limiter struct {
	Limits  Limits
	Buckets callvault.BucketStore // Memory, or the database replicas share
	// Strict refuses again, and counts, a request that falls in a bucket
	// whose Retry-After, given to an earlier request, has not elapsed, as
	// Dev Proxy's RetryAfterPlugin does.
	Strict bool
	Now    func() time.Time // time.Now when nil
	Logger *slog.Logger     // nil logs nothing

	Counters Counters

	mu    sync.Mutex
	until map[string]time.Time // strict mode: bucket key → the end of the Retry-After it gave
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// Admit counts req in its buckets or refuses it. An error is the buckets'
// (a shared store that failed); the caller decides whether to serve.
func (l *Limiter) Admit(ctx context.Context, req Request) (Verdict, error) {
	now := l.now()
	bs := BucketsOf(l.Limits, RouteOf(req.Path), req.Tenant, req.App)
	if req.RetryAttempt != "" {
		n := l.Counters.Retries.Add(1)
		l.log(ctx, slog.LevelInfo, "retry attempt", "request_id", req.RequestID, "retry_attempt", req.RetryAttempt,
			"tenant", req.Tenant, "app", req.App, "retry_attempts_total", n)
	}
	if l.Strict {
		if v, ok := l.early(now, bs); ok {
			n := l.Counters.Early.Add(1)
			l.log(ctx, slog.LevelWarn, "throttled: retried before Retry-After elapsed", "request_id", req.RequestID,
				"bucket", v.Bucket, "retry_after", v.RetryAfter, "retry_attempt", req.RetryAttempt, "tenant", req.Tenant, "app", req.App,
				"early_retries_total", n)
			return v, nil
		}
	}
	var small [8]callvault.Bucket
	cbs := small[:0]
	for _, b := range bs {
		cbs = append(cbs, callvault.Bucket{Key: b.Key, Limit: b.Limit.Requests, Window: b.Limit.Window})
	}
	refused, retryAt, err := l.Buckets.TakeBuckets(ctx, now, cbs)
	if err != nil {
		return Verdict{}, err
	}
	if refused < 0 {
		l.Counters.Admitted.Add(1)
		return Verdict{Allowed: true}, nil
	}
	n := l.Counters.Throttled.Add(1)
	b := bs[refused]
	v := Verdict{RetryAfter: RetryAfter(retryAt.Sub(now)), Bucket: b.Name}
	if l.Strict {
		l.remember(now, b.Key, now.Add(time.Duration(v.RetryAfter)*time.Second))
	}
	l.log(ctx, slog.LevelInfo, "throttled", "request_id", req.RequestID, "bucket", b.Name,
		"retry_after", v.RetryAfter, "tenant", req.Tenant, "app", req.App, "throttled_total", n)
	return v, nil
}

// RetryAfter turns a wait into Retry-After's whole seconds, rounded up so
// that a client that waits exactly that long is admitted; at least 1.
func RetryAfter(d time.Duration) int {
	s := math.Ceil(d.Seconds())
	if s < 1 {
		return 1
	}
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(s)
}

// early reports whether a request in bs comes before the end of a
// Retry-After one of its buckets gave.
func (l *Limiter) early(now time.Time, bs []Bucket) (Verdict, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var v Verdict
	var latest time.Time
	for _, b := range bs {
		if u, ok := l.until[b.Key]; ok && now.Before(u) && u.After(latest) {
			latest = u
			v = Verdict{RetryAfter: RetryAfter(u.Sub(now)), Bucket: b.Name, Early: true}
		}
	}
	return v, !latest.IsZero()
}

func (l *Limiter) remember(now time.Time, key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until == nil {
		l.until = map[string]time.Time{}
	}
	if len(l.until) >= 1024 { // forget the elapsed ones, now and then
		for k, u := range l.until {
			if !now.Before(u) {
				delete(l.until, k)
			}
		}
	}
	if until.After(l.until[key]) {
		l.until[key] = until
	}
}

func (l *Limiter) log(ctx context.Context, level slog.Level, msg string, args ...any) {
	if l.Logger != nil {
		l.Logger.Log(ctx, level, msg, args...)
	}
}
