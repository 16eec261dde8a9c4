package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
	"github.com/jackc/pgx/v5"
)

// The stores side by side, in one run:
//
//	CALLVAULT_TEST_POSTGRES=postgres://root@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./bench -run '^$' -bench 'Store' -v
//
// Without CALLVAULT_TEST_POSTGRES the PostgreSQL halves skip.

const storeTenant = "bench-store-tenant"

// storeKinds open an empty store of each kind for a benchmark. settle
// brings a store to its steady state after a bulk load.
var storeKinds = []struct {
	name string
	open func(b *testing.B) (st callvault.Store, settle func())
}{
	{"sqlite", func(b *testing.B) (callvault.Store, func()) {
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "callvault.db"))
		if err != nil {
			b.Fatal(err)
		}
		return db, func() {}
	}},
	{"postgres", func(b *testing.B) (callvault.Store, func()) {
		dsn := pgtest.DSN(b)
		db, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		return db, func() {
			// What autovacuum does after a load, done now rather than while
			// the benchmark runs.
			conn, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), "VACUUM (ANALYZE) call_records, sessions, segments, participants"); err != nil {
				b.Fatal(err)
			}
		}
	}},
}

// bigMeeting is one synthetic meeting of 60,000 sessions (about 570 MB of
// JSON), made once for every store.
var bigMeeting = sync.OnceValue(func() []byte {
	return synth.RecordWithSessions(storeTenant, 1, "meeting", 60000)
})

// importInto imports JSON Lines into st under tenant and returns what it
// stored.
func importInto(b *testing.B, st callvault.Store, tenant string, data []byte) ingest.Stats {
	b.Helper()
	var stats ingest.Stats
	im := &ingest.Importer{Store: st, Tenant: tenant}
	if err := im.Import(context.Background(), "bench", bytes.NewReader(data), &stats); err != nil || stats.Rejected > 0 {
		b.Fatalf("import: %v, %+v", err, stats)
	}
	return stats
}

// BenchmarkStoreListSessions reads pages of 60 sessions with their
// segments from a 60,000-session meeting: page 1, page 500 and page 1,000
// (the last), in turn within each iteration, so that all three see the same
// machine. With keyset paging they cost the same; what differs is the size
// of their rows, reported as KB per page. ns/op is the three together.
func BenchmarkStoreListSessions(b *testing.B) {
	pages := []int64{1, 500, 1000}
	for _, kind := range storeKinds {
		b.Run(kind.name, func(b *testing.B) {
			b.ReportAllocs()
			st, settle := kind.open(b)
			defer st.Close()
			start := time.Now()
			stats := importInto(b, st, storeTenant, bigMeeting())
			b.Logf("%s: imported a meeting of %d sessions and %d segments in %s",
				kind.name, stats.Sessions, stats.Segments, time.Since(start).Round(time.Millisecond))
			settle()

			queries := make([]callvault.SessionQuery, len(pages))
			sizes := make([]int, len(pages))
			for i, page := range pages {
				queries[i] = callvault.SessionQuery{Tenant: storeTenant, RecordID: "meeting", After: (page - 1) * 60, Limit: 60, Segments: true}
				p, err := st.ListSessions(context.Background(), queries[i])
				if err != nil || len(p.Sessions) != 60 || p.More != (page < 1000) {
					b.Fatalf("page %d: %v", page, err)
				}
				for _, s := range p.Sessions {
					sizes[i] += len(s.Body)
					for _, g := range s.Segments {
						sizes[i] += len(g.Body)
					}
				}
			}
			took := make([]time.Duration, len(pages))
			for b.Loop() {
				for i, q := range queries {
					t0 := time.Now()
					if _, err := st.ListSessions(context.Background(), q); err != nil {
						b.Fatal(err)
					}
					took[i] += time.Since(t0)
				}
			}
			for i, page := range pages {
				b.ReportMetric(float64(took[i].Microseconds())/float64(b.N), fmt.Sprintf("us/page-%d", page))
				b.ReportMetric(float64(sizes[i])/1000, fmt.Sprintf("KB/page-%d", page))
			}
		})
	}
}

// BenchmarkStoreImport imports 200 synthetic records of the default mix,
// each run into a tenant of its own so that every put is an insert.
func BenchmarkStoreImport(b *testing.B) {
	var data bytes.Buffer
	gen, err := synth.Write(&data, synth.Config{Tenant: storeTenant, Seed: 7, Records: 200})
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range storeKinds {
		b.Run(kind.name, func(b *testing.B) {
			b.ReportAllocs()
			st, _ := kind.open(b)
			defer st.Close()
			b.SetBytes(gen.Bytes)
			runs := 0
			for b.Loop() {
				runs++
				stats := importInto(b, st, fmt.Sprintf("%s-%d", storeTenant, runs), data.Bytes())
				if stats.Inserted != gen.Records {
					b.Fatalf("inserted %d records, want %d", stats.Inserted, gen.Records)
				}
			}
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(runs*gen.Records)/secs, "records/s")
			b.ReportMetric(float64(runs*gen.Sessions)/secs, "sessions/s")
		})
	}
}
