package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunBuckets is the conformance suite of callvault.BucketStore: every store
// that keeps throttling buckets runs it, and so does the in-memory one.
// open returns a store for one subtest; keys are named after the subtest,
// so one database may serve them all.
func RunBuckets(t *testing.T, open func(t *testing.T) callvault.BucketStore) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	take := func(t *testing.T, s callvault.BucketStore, now time.Time, bs ...callvault.Bucket) (int, time.Time) {
		t.Helper()
		refused, at, err := s.TakeBuckets(ctx, now, bs)
		if err != nil {
			t.Fatal(err)
		}
		return refused, at
	}
	key := func(t *testing.T, k string) string { return t.Name() + "|" + k }

	t.Run("the limit's last request passes, the next is refused until its oldest leaves the window", func(t *testing.T) {
		s := open(t)
		b := callvault.Bucket{Key: key(t, "record"), Limit: 40, Window: 20 * time.Second}
		for i := range 40 {
			if r, _ := take(t, s, t0.Add(time.Duration(i)*100*time.Millisecond), b); r != -1 {
				t.Fatalf("request %d refused", i+1)
			}
		}
		r, at := take(t, s, t0.Add(4*time.Second), b)
		if r != 0 || !at.Equal(t0.Add(20*time.Second)) {
			t.Fatalf("41st: refused %d, retry at %v; want 0, %v", r, at, t0.Add(20*time.Second))
		}
		if r, _ := take(t, s, t0.Add(20*time.Second-time.Nanosecond), b); r != 0 {
			t.Fatalf("a nanosecond early: refused %d, want 0", r)
		}
		if r, _ := take(t, s, t0.Add(20*time.Second), b); r != -1 {
			t.Fatal("at exactly the retry time: refused")
		}
		if r, at := take(t, s, t0.Add(20*time.Second), b); r != 0 || !at.Equal(t0.Add(20*time.Second+100*time.Millisecond)) {
			t.Fatalf("the next: refused %d, retry at %v", r, at)
		}
	})

	t.Run("a refused request counts in none of its buckets and names the one that admits it last", func(t *testing.T) {
		s := open(t)
		wide := callvault.Bucket{Key: key(t, "wide"), Limit: 3, Window: time.Minute}
		narrow := callvault.Bucket{Key: key(t, "narrow"), Limit: 1, Window: 10 * time.Second}
		full := callvault.Bucket{Key: key(t, "full"), Limit: 1, Window: 30 * time.Second}
		take(t, s, t0, full)
		if r, _ := take(t, s, t0, wide, narrow); r != -1 {
			t.Fatal("first request refused")
		}
		// narrow refuses (until 10 s) and full refuses (until 30 s): full is named.
		if r, at := take(t, s, t0.Add(time.Second), wide, narrow, full); r != 2 || !at.Equal(t0.Add(30*time.Second)) {
			t.Fatalf("refused %d at %v, want 2 at +30s", r, at)
		}
		// wide counted only the first: two more fit.
		for i := range 2 {
			if r, _ := take(t, s, t0.Add(time.Duration(2+i)*time.Second), wide); r != -1 {
				t.Fatalf("wide refused request %d: a refused request was counted", i+2)
			}
		}
		if r, _ := take(t, s, t0.Add(5*time.Second), wide); r != 0 {
			t.Fatal("wide admitted a fourth")
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			if r, _ := take(t, s, t0, callvault.Bucket{Key: key(t, fmt.Sprint(i)), Limit: 1, Window: time.Minute}); r != -1 {
				t.Fatalf("key %d refused", i)
			}
		}
	})

	t.Run("concurrent takes admit exactly the limit", func(t *testing.T) {
		s := open(t)
		b := callvault.Bucket{Key: key(t, "hot"), Limit: 25, Window: time.Minute}
		var admitted atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					r, _, err := s.TakeBuckets(ctx, t0.Add(time.Duration(g*10+i)*time.Millisecond), []callvault.Bucket{b})
					if err != nil {
						errs <- err
						return
					}
					if r == -1 {
						admitted.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := admitted.Load(); n != 25 {
			t.Fatalf("%d of 80 admitted, want 25", n)
		}
	})
}
