package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/storetest"
	"github.com/callvault/callvault/throttle"
)

// TestBucketStore runs the buckets' suite, also in the query modes that
// work behind a pooler (see TestStoreBehindAPooler).
func TestBucketStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, mode := range []string{"", "exec", "simple_protocol"} {
		t.Run("mode "+mode, func(t *testing.T) {
			if mode != "" {
				mode = "&default_query_exec_mode=" + mode
			}
			storetest.RunBuckets(t, func(t *testing.T) callvault.BucketStore {
				db := open(t, dsn+mode)
				t.Cleanup(func() { db.Close() })
				return db
			})
		})
	}
}

// TestBucketsAreSharedByServers: two stores on one database (two replicas)
// admit Graph's 40 requests on a record between them, not 40 each.
func TestBucketsAreSharedByServers(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	bs := []callvault.Bucket{{Key: "perCallRecord|t|app|r1", Limit: 40, Window: 20 * time.Second}}
	admitted := 0
	for i := range 80 {
		s := callvault.BucketStore(a)
		if i%2 == 1 {
			s = b
		}
		r, _, err := s.TakeBuckets(context.Background(), t0.Add(time.Duration(i)*time.Millisecond), bs)
		if err != nil {
			t.Fatal(err)
		}
		if r < 0 {
			admitted++
		}
	}
	if admitted != 40 {
		t.Fatalf("two servers admitted %d of 80, want 40", admitted)
	}
}

// BenchmarkTakeBuckets is what a shared bucket costs a request: Graph's
// five buckets of a request under a record, on the database, against the
// same in memory.
func BenchmarkTakeBuckets(b *testing.B) {
	db, err := postgres.Open(b.Context(), pgtest.DSN(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t0 := time.Now()
	for _, tc := range []struct {
		name  string
		store callvault.BucketStore
	}{{"postgres", db}, {"memory", &throttle.Memory{}}} {
		b.Run(tc.name, func(b *testing.B) {
			l := &throttle.Limiter{Limits: throttle.Graph(), Buckets: tc.store, Now: func() time.Time { return t0 }}
			i := 0
			for b.Loop() {
				i++
				v, err := l.Admit(context.Background(), throttle.Request{Path: fmt.Sprintf("communications/callRecords/%d/sessions", i),
					Tenant: fmt.Sprint("tenant-", i%10), App: fmt.Sprint("app-", i%100)})
				if err != nil {
					b.Fatal(err)
				}
				_ = v
			}
		})
	}
}
