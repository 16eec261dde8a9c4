package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// BenchmarkStoreRows reads one page of 60 sessions, with and without
// their segments, at the first and the last page of the meeting, into an
// arena it reuses (callvault.SessionQuery.Arena). B/s counts
// body bytes; rows/s counts sessions and segments; cpu-ns/op is the
// process's CPU time (user and system, every thread, the garbage collector's
// included) per page, which moves much less than ns/op when other work
// shares the machine.
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
				cpu := startCPU()
				// One arena, reused from page to page, as the handler's pool
				// reuses one per request in flight.
				var arena []byte
				for b.Loop() {
					q.Arena = arena[:0]
					p, err := f.db.ListSessions(ctx, q)
					if err != nil {
						b.Fatal(err)
					}
					arena = p.Arena
				}
				cpu.report(b)
				b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

// BenchmarkStorePageCPU is BenchmarkSessionsPage's callvault half for a
// page of sessions with segments and one without $expand, with cpu-ns/op:
// the whole handler's CPU time per page.
func BenchmarkStorePageCPU(b *testing.B) {
	f := getFixture(b)
	const sessionsURL = "/v1.0/communications/callRecords/" + meeting + "/sessions"
	for _, tc := range []struct{ name, uri string }{
		{"expand-page1", sessionsURL + "?$expand=segments"},
		{"no-expand", sessionsURL},
	} {
		b.Run("case="+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, tc.uri, nil)
				r.Header.Set("Authorization", "Bearer "+f.token)
				f.handler.ServeHTTP(&discard{h: http.Header{}}, r)
			}
			cpu.report(b)
		})
	}
}

// cpuClock is the process's CPU time when a benchmark's loop started.
type cpuClock struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuClock {
	d, ok := processCPU()
	return cpuClock{d, ok}
}

// report adds cpu-ns/op, where the process's CPU time can be read.
func (c cpuClock) report(b *testing.B) {
	if d, ok := processCPU(); ok && c.ok && b.N > 0 {
		b.ReportMetric(float64(d-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// processCPU returns the user and system time of the process from
// /proc/self/stat (Linux; in clock ticks, assumed 100 a second, so a run of
// a second or more is needed for a figure to a few per cent).
func processCPU() (time.Duration, bool) {
	buf, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command's closing parenthesis: state is field 3,
	// utime and stime fields 14 and 15.
	i := bytes.LastIndexByte(buf, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(buf[i+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(string(fields[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(fields[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}
