package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/callvault/callvault"
)

// BenchmarkStoreRows reads one page of 60 sessions, with and without
// their segments, at the first and the last page of the meeting. B/s counts
// body bytes; rows/s counts sessions and segments.
func BenchmarkStoreRows(b *testing.B) {
	f := getFixture(b)
	ctx := context.Background()
	for _, pg := range []int{1, sessions / pageSize} {
		for _, segments := range []bool{true, false} {
			b.Run(fmt.Sprintf("page=%d/segments=%v", pg, segments), func(b *testing.B) {
				q := callvault.SessionQuery{Tenant: tenant, RecordID: meeting, After: int64((pg - 1) * pageSize), Limit: pageSize, Segments: segments}
				p := f.page(b, q.After, segments)
				rows, size := 0, 0
				for _, s := range p.Sessions {
					rows += 1 + len(s.Segments)
					size += len(s.Body)
					for _, seg := range s.Segments {
						size += len(seg.Body)
					}
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.db.ListSessions(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
