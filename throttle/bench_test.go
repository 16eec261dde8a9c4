package throttle_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault/throttle"
)

// BenchmarkAdmit is the limiter's cost per request under Graph's limits
// (five buckets for a request under a record), on one goroutine and on all
// cores, over 10,000 records of 100 apps in 10 tenants so that no bucket fills.
func BenchmarkAdmit(b *testing.B) {
	paths := make([]string, 10_000)
	for i := range paths {
		paths[i] = "communications/callRecords/" + strconv.Itoa(i) + "/sessions"
	}
	tenants := make([]string, 10)
	for i := range tenants {
		tenants[i] = "tenant-" + strconv.Itoa(i)
	}
	apps := make([]string, 100)
	for i := range apps {
		apps[i] = "app-" + strconv.Itoa(i)
	}
	var tick atomic.Int64
	// The clock moves 1 ms a request: the per-app buckets (1,500 / 20 s)
	// never fill, and the logs hold about a window's worth of requests.
	now := func() time.Time { return t0.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	run := func(b *testing.B, parallel bool) {
		l := &throttle.Limiter{Limits: throttle.Graph(), Buckets: &throttle.Memory{}, Now: now}
		ctx := context.Background()
		b.ReportAllocs()
		if parallel {
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					l.Admit(ctx, throttle.Request{Path: paths[i%len(paths)], Tenant: tenants[i%len(tenants)], App: apps[i%len(apps)]})
				}
			})
		} else {
			for i := 0; b.Loop(); i++ {
				l.Admit(ctx, throttle.Request{Path: paths[i%len(paths)], Tenant: tenants[i%len(tenants)], App: apps[i%len(apps)]})
			}
		}
		if l.Counters.Throttled.Load() > 0 {
			b.Fatalf("%d throttled: the benchmark measures admissions", l.Counters.Throttled.Load())
		}
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}
