package throttle_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/storetest"
	"github.com/callvault/callvault/throttle"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// clock is an injected clock that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newLimiter(strict bool) (*throttle.Limiter, *clock) {
	c := &clock{t: t0}
	return &throttle.Limiter{Limits: throttle.Graph(), Buckets: &throttle.Memory{}, Strict: strict, Now: c.now}, c
}

func admit(t *testing.T, l *throttle.Limiter, r throttle.Request) throttle.Verdict {
	t.Helper()
	v, err := l.Admit(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const tenant, app = "tenant-a", "app-a"

func recordPath(id string) string { return "communications/callRecords/" + id + "/sessions" }

// TestEveryBucketAtItsBoundary fills each of Graph's buckets in turn, at
// one instant, with requests shaped so that only that bucket fills: the
// last request it allows passes, the next is refused with the window as
// Retry-After, one nanosecond before the window ends it is still refused
// (Retry-After: 1), and at exactly Retry-After it passes.
func TestEveryBucketAtItsBoundary(t *testing.T) {
	fns := []string{"getPstnCalls", "getDirectRoutingCalls", "getSmsLog", "getPstnBlockedUsersLog", "getPstnOnlineMeetingDialoutReport"}
	for _, tc := range []struct {
		bucket string
		limit  int
		window time.Duration
		req    func(i int) throttle.Request
	}{
		{"perCallRecord", 40, 20 * time.Second, func(i int) throttle.Request {
			// sessions, segments and the record itself count alike
			paths := []string{"communications/callRecords/r1", recordPath("r1"), "communications/callRecords('r1')/sessions/s1/segments", "communications/callRecords/r1/participants_v2"}
			return throttle.Request{Path: paths[i%len(paths)], Tenant: tenant, App: app}
		}},
		{"listCallRecords", 40, 20 * time.Second, func(i int) throttle.Request {
			paths := []string{"communications/callRecords", "communications/callRecords/$count"}
			return throttle.Request{Path: paths[i%2], Tenant: tenant, App: app}
		}},
		{"perAppPerTenant", 1500, 20 * time.Second, func(i int) throttle.Request {
			return throttle.Request{Path: recordPath(fmt.Sprint(i)), Tenant: tenant, App: app}
		}},
		{"perTenant", 10_000, 20 * time.Second, func(i int) throttle.Request {
			return throttle.Request{Path: recordPath("r"), Tenant: tenant, App: fmt.Sprint("app-", i)}
		}},
		{"perAppAllTenants", 15_000, 20 * time.Second, func(i int) throttle.Request {
			return throttle.Request{Path: recordPath(fmt.Sprint(i)), Tenant: fmt.Sprint("tenant-", i/1000), App: app}
		}},
		{"global", 130_000, 10 * time.Second, func(i int) throttle.Request {
			return throttle.Request{Path: "subscriptions", Tenant: fmt.Sprint("tenant-", i), App: app}
		}},
		{"reportsPerCollection", 50, time.Minute, func(i int) throttle.Request {
			return throttle.Request{Path: "communications/callRecords/getPstnCalls(fromDateTime=2026-11-01,toDateTime=2026-11-02)", Tenant: tenant, App: app}
		}},
		{"reportsPerAppPerTenant", 200, time.Minute, func(i int) throttle.Request {
			return throttle.Request{Path: "communications/callRecords/microsoft.graph.callRecords." + fns[i%len(fns)] + "(fromDateTime=2026-11-01,toDateTime=2026-11-02)", Tenant: tenant, App: app}
		}},
		{"reportsPerTenant", 1000, time.Minute, func(i int) throttle.Request {
			return throttle.Request{Path: "communications/callRecords/" + fns[i%len(fns)] + "(fromDateTime=2026-11-01,toDateTime=2026-11-02)", Tenant: tenant, App: fmt.Sprint("app-", i)}
		}},
	} {
		t.Run(tc.bucket+" admits its limit and refuses the next until the window has passed", func(t *testing.T) {
			l, c := newLimiter(false)
			for i := range tc.limit {
				if v := admit(t, l, tc.req(i)); !v.Allowed {
					t.Fatalf("request %d of %d refused by %s", i+1, tc.limit, v.Bucket)
				}
			}
			next := tc.req(tc.limit)
			v := admit(t, l, next)
			if v.Allowed || v.Bucket != tc.bucket || v.RetryAfter != int(tc.window/time.Second) {
				t.Fatalf("request %d: %+v, want refused by %s with Retry-After %d", tc.limit+1, v, tc.bucket, int(tc.window/time.Second))
			}
			c.t = t0.Add(tc.window - time.Nanosecond)
			if v := admit(t, l, next); v.Allowed || v.RetryAfter != 1 {
				t.Fatalf("a nanosecond early: %+v, want refused with Retry-After 1", v)
			}
			c.t = t0.Add(tc.window)
			if v := admit(t, l, next); !v.Allowed {
				t.Fatalf("at exactly Retry-After: %+v, want admitted", v)
			}
			if got := l.Counters.Throttled.Load(); got != 2 {
				t.Errorf("throttled %d, want 2", got)
			}
		})
	}
}

// TestRetryAfterIsTheWaitUntilAdmission spreads 40 requests on one record
// over 3.9 s: the 41st, at 4 s, is told 16 s (the first leaves the window at
// 20 s); a client that waits exactly that long passes, and the next one is
// told 1 s (the second leaves at 20.1 s, rounded up).
func TestRetryAfterIsTheWaitUntilAdmission(t *testing.T) {
	l, c := newLimiter(false)
	r := throttle.Request{Path: recordPath("r1"), Tenant: tenant, App: app}
	for i := range 40 {
		c.t = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		if v := admit(t, l, r); !v.Allowed {
			t.Fatalf("request %d refused: %+v", i+1, v)
		}
	}
	c.t = t0.Add(4 * time.Second)
	v := admit(t, l, r)
	if v.Allowed || v.RetryAfter != 16 || v.Bucket != "perCallRecord" {
		t.Fatalf("41st: %+v, want refused by perCallRecord, Retry-After 16", v)
	}
	c.t = c.t.Add(16 * time.Second)
	if v := admit(t, l, r); !v.Allowed {
		t.Fatalf("after waiting Retry-After: %+v", v)
	}
	if v := admit(t, l, r); v.Allowed || v.RetryAfter != 1 {
		t.Fatalf("42nd at 20 s: %+v, want Retry-After 1", v)
	}
	// Another record of the same app is not affected.
	if v := admit(t, l, throttle.Request{Path: recordPath("r2"), Tenant: tenant, App: app}); !v.Allowed {
		t.Fatalf("another record: %+v", v)
	}
	// Neither is the same record id in another app.
	if v := admit(t, l, throttle.Request{Path: recordPath("r1"), Tenant: tenant, App: "app-b"}); !v.Allowed {
		t.Fatalf("another app: %+v", v)
	}
}

// TestStrictRefusesEarlyRetries: in strict mode a request that comes before
// the Retry-After its bucket gave is refused and counted even when the
// bucket has room again; at exactly Retry-After it passes.
func TestStrictRefusesEarlyRetries(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			l, c := newLimiter(strict)
			r := throttle.Request{Path: recordPath("r1"), Tenant: tenant, App: app}
			for i := range 40 {
				c.t = t0.Add(time.Duration(i) * 500 * time.Millisecond) // 40 over 19.5 s
				admit(t, l, r)
			}
			c.t = t0.Add(19*time.Second + 600*time.Millisecond)
			if v := admit(t, l, r); v.Allowed || v.RetryAfter != 1 {
				t.Fatalf("41st: %+v, want Retry-After 1", v) // the first leaves at 20 s
			}
			// At 20.3 s the bucket has room (the first left at 20 s) but the
			// Retry-After given ends at 20.6 s.
			c.t = t0.Add(20*time.Second + 300*time.Millisecond)
			r.RetryAttempt = "1"
			v := admit(t, l, r)
			if strict && (v.Allowed || !v.Early || v.RetryAfter != 1) {
				t.Fatalf("early retry in strict mode: %+v, want refused as early", v)
			}
			if !strict && !v.Allowed {
				t.Fatalf("early retry without strict mode: %+v, want admitted", v)
			}
			if got, want := l.Counters.Early.Load(), map[bool]int64{true: 1}[strict]; got != want {
				t.Errorf("early %d, want %d", got, want)
			}
			if got := l.Counters.Retries.Load(); got != 1 {
				t.Errorf("retries %d, want 1", got)
			}
			if strict {
				c.t = t0.Add(20*time.Second + 600*time.Millisecond)
				if v := admit(t, l, r); !v.Allowed {
					t.Fatalf("at exactly Retry-After: %+v", v)
				}
			}
		})
	}
}

func TestRouteOf(t *testing.T) {
	for path, want := range map[string]throttle.Route{
		"communications/callRecords":                                                       {Kind: throttle.List},
		"communications/callRecords/":                                                      {Kind: throttle.List},
		"Communications/CALLRECORDS/$count":                                                {Kind: throttle.List},
		"communications/callRecords/abc":                                                   {Kind: throttle.Record, Record: "abc"},
		"communications/callRecords/a%2Fb/sessions/s/segments":                             {Kind: throttle.Record, Record: "a/b"},
		"communications/callRecords('abc')/sessions":                                       {Kind: throttle.Record, Record: "abc"},
		"communications/callRecords/getPstnCalls(fromDateTime=1,x=2)":                      {Kind: throttle.Report, Function: "getPstnCalls"},
		"communications/callRecords/microsoft.graph.callRecords.getSmsLog(fromDateTime=1)": {Kind: throttle.Report, Function: "getSmsLog"},
		"communications/callRecords('')":                                                   {Kind: throttle.CallRecords},
		"communications":                                                                   {Kind: throttle.Other},
		"communications/calls/x":                                                           {Kind: throttle.Other},
		"subscriptions":                                                                    {Kind: throttle.Other},
		"subscriptions/0c8d2a5e-0000-4000-8000-1":                                          {Kind: throttle.Other},
	} {
		if got := throttle.RouteOf(path); got != want {
			t.Errorf("RouteOf(%q) = %+v, want %+v", path, got, want)
		}
	}
}

func TestRetryAfterRoundsUp(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Nanosecond: 1, time.Second: 1, time.Second + 1: 2, 2128 * time.Millisecond: 3, 20 * time.Second: 20} {
		if got := throttle.RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %d, want %d", d, got, want)
		}
	}
}

// TestMemoryForgetsIdleKeys: a key whose admissions all left the window is
// dropped, so a server that saw a million record ids does not keep them.
func TestMemoryForgetsIdleKeys(t *testing.T) {
	m := &throttle.Memory{}
	for i := range 1000 {
		m.TakeBuckets(context.Background(), t0, []callvault.Bucket{{Key: fmt.Sprint(i), Limit: 40, Window: 20 * time.Second}})
	}
	if m.Len() != 1000 {
		t.Fatalf("%d keys, want 1000", m.Len())
	}
	later := t0.Add(20 * time.Second)
	for i := range 1000 {
		m.TakeBuckets(context.Background(), later, []callvault.Bucket{{Key: "new", Limit: 40, Window: 20 * time.Second}})
		_ = i
	}
	if m.Len() > 1 {
		t.Errorf("%d keys after a window without their requests, want 1", m.Len())
	}
}

// TestRestampCountsFromTheAnswer: an admission moved to when its answer
// came is counted from then, in order among the others, and an admission
// moved after it left its window is counted again.
func TestRestampCountsFromTheAnswer(t *testing.T) {
	ctx := context.Background()
	m := &throttle.Memory{}
	bs := []callvault.Bucket{{Key: "k", Limit: 3, Window: 20 * time.Second}}
	take := func(at time.Duration) (int, time.Time) {
		t.Helper()
		refused, retryAt, err := m.TakeBuckets(ctx, t0.Add(at), bs)
		if err != nil {
			t.Fatal(err)
		}
		return refused, retryAt
	}
	take(0)
	take(time.Second)
	take(2 * time.Second)
	// The first request's answer came at 5 s, after the others' (at once).
	m.Restamp(t0, t0.Add(5*time.Second), bs)
	// The second's slot frees first now: 1 s + 20 s.
	if refused, retryAt := take(3 * time.Second); refused != 0 || !retryAt.Equal(t0.Add(21*time.Second)) {
		t.Fatalf("refused %d until %v, want 0 until +21s", refused, retryAt.Sub(t0))
	}
	take(21 * time.Second)
	take(22 * time.Second)
	// The first's slot is held until 5 s + 20 s, not 0 s + 20 s.
	if refused, retryAt := take(23 * time.Second); refused != 0 || !retryAt.Equal(t0.Add(25*time.Second)) {
		t.Fatalf("refused %d until %v, want 0 until +25s", refused, retryAt.Sub(t0))
	}
	if refused, _ := take(25 * time.Second); refused != -1 {
		t.Fatal("refused at +25s")
	}
	// An answer that came after its admission left the window counts again.
	m.Restamp(t0.Add(time.Minute), t0.Add(2*time.Minute), bs)
	take(2 * time.Minute)
	take(2*time.Minute + time.Second)
	if refused, retryAt := take(2*time.Minute + 2*time.Second); refused != 0 || !retryAt.Equal(t0.Add(2*time.Minute+20*time.Second)) {
		t.Fatalf("refused %d until %v, want 0 until +2m20s", refused, retryAt.Sub(t0))
	}
}

// TestParseLimits: profiles scale, replace or turn off limits, and their
// errors name the member at fault.
func TestParseLimits(t *testing.T) {
	l, err := throttle.ParseLimits([]byte(`{"scale":0.1,"limits":{"perCallRecord":{"requests":5,"window":"10s"},"global":"off","perTenant":{"scale":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if l.CallRecord != (throttle.Limit{Requests: 5, Window: 10 * time.Second}) || !l.Global.Off() ||
		l.Tenant.Requests != 2000 || l.ListCallRecords.Requests != 4 || l.ReportsCollection.Requests != 5 {
		t.Errorf("parsed %+v", l)
	}
	for in, want := range map[string]string{
		`{"limits":{"perRecord":{}}}`:                       `unknown limit "perRecord"`,
		`{"limits":{"perCallRecord":{"requests":0}}}`:       "limits.perCallRecord: requests: 0",
		`{"limits":{"perCallRecord":{"window":"forever"}}}`: `limits.perCallRecord: window: "forever"`,
		`{"limits":{"perCallRecord":"on"}}`:                 `limits.perCallRecord: "on"`,
		`{"scale":-1}`:                                      "scale: -1",
		`{"scales":1}`:                                      `unknown field "scales"`,
		`{} {}`:                                             "more than one JSON value",
	} {
		if _, err := throttle.ParseLimits([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLimits(%s) = %v, want an error with %q", in, err, want)
		}
	}
}

// TestMemoryPassesTheBucketStoreSuite: the in-memory buckets keep the
// contract the database's keep.
func TestMemoryPassesTheBucketStoreSuite(t *testing.T) {
	storetest.RunBuckets(t, func(*testing.T) callvault.BucketStore { return &throttle.Memory{} })
}
