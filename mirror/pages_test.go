package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault/synth"
)

// loopSource is a source whose nextLinks never end: for a record's
// sessions, the call records list and a report function. How it loops is
// the test's: a link back to a page already given, the same link under
// another host, or new links to pages with nothing in them. It answers on
// loopback only, and counts what it was asked.
type loopSource struct {
	base     string
	requests atomic.Int64
	loop     func(base, path string, n int64) string // the nextLink of the n-th page at path
}

func (s *loopSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.requests.Add(1)
	if n > 10_000 {
		// The test has failed already; do not let it spin for its timeout.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"enough"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	next := s.loop(s.base, r.URL.Path, n)
	switch {
	case strings.HasSuffix(r.URL.Path, "/communications/callRecords/rec"):
		fmt.Fprintf(w, `{"id":"rec","version":1,"sessions":[],"sessions@odata.nextLink":%q}`, next)
	default:
		fmt.Fprintf(w, `{"value":[],"@odata.nextLink":%q}`, next)
	}
}

func newLoopMirror(t *testing.T, loop func(base, path string, n int64) string) (*Mirror, *loopSource) {
	t.Helper()
	src := &loopSource{loop: loop}
	m, _ := newSourceMirror(t, src)
	src.base = m.Client.Base
	return m, src
}

// A source whose nextLinks go round in a circle, or on forever through
// empty pages, makes every walk of its pages fail with an error that says
// so, after a bounded number of requests: a mirror must not ask forever,
// nor gather a record's pages until it runs out of memory.
func TestWalksOfPagesThatNeverEndFail(t *testing.T) {
	loops := []struct {
		name string
		loop func(base, path string, n int64) string
		want string
	}{
		{"to itself", func(base, path string, n int64) string {
			return base + "/communications/callRecords/rec/sessions?$skiptoken=same"
		}, "twice"},
		{"in a circle of three", func(base, path string, n int64) string {
			return fmt.Sprintf("%s/communications/callRecords/rec/sessions?$skiptoken=%d", base, n%3)
		}, "twice"},
		{"the same page under other hosts", func(base, path string, n int64) string {
			return fmt.Sprintf("https://host%d.example/beta/communications/callRecords/rec/sessions?$skiptoken=same", n)
		}, "twice"},
		{"relative, then absolute", func(base, path string, n int64) string {
			if n%2 == 0 {
				return "communications/callRecords/rec/sessions?$skiptoken=same"
			}
			return base + "/communications/callRecords/rec/sessions?$skiptoken=same"
		}, "twice"},
		{"on through empty pages", func(base, path string, n int64) string {
			return fmt.Sprintf("%s/communications/callRecords/rec/sessions?$skiptoken=%d", base, n)
		}, "empty pages"},
	}
	walks := []struct {
		name string
		walk func(ctx context.Context, m *Mirror) error
	}{
		{"a record's sessions", func(ctx context.Context, m *Mirror) error {
			_, err := m.Fetch(ctx, "rec")
			return err
		}},
		{"a sweep's list", func(ctx context.Context, m *Mirror) error {
			return m.sweepWindow(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		}},
		{"a report function", func(ctx context.Context, m *Mirror) error {
			return m.Reports(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
				map[string]string{"getPstnCalls": "pstnCallLogRow"})
		}},
	}
	for _, l := range loops {
		for _, w := range walks {
			t.Run(l.name+"/"+w.name, func(t *testing.T) {
				m, src := newLoopMirror(t, l.loop)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				err := w.walk(ctx, m)
				if err == nil || !strings.Contains(err.Error(), l.want) {
					t.Fatalf("err = %v, want one that says %q", err, l.want)
				}
				if ctx.Err() != nil {
					t.Fatalf("the walk ended with the test's deadline: %v", err)
				}
				if n := src.requests.Load(); n > maxEmptyPages+2 {
					t.Errorf("%d requests to the source, want at most %d", n, maxEmptyPages+2)
				}
			})
		}
	}
}

// A walk whose pages add up to more than a record may hold stops there.
func TestAWalkStopsAtTheSizeOfARecord(t *testing.T) {
	c := pageChain{limit: 1000}
	if err := c.page(1, 600, true); err != nil {
		t.Fatal(err)
	}
	err := c.page(1, 600, true)
	if err == nil || !strings.Contains(err.Error(), "1000 bytes") {
		t.Fatalf("err = %v, want the record's bound", err)
	}
}

// A source may write its answers indented, across lines, as JSON allows
// (a proxy that pretty-prints, a hand-written stand-in). The mirror stores
// the records of a batch as the lines of one import, so each must still be
// one line: every record is stored, and settled as itself.
func TestRecordsWrittenAcrossLinesAreStoredEach(t *testing.T) {
	ids, records := testRecords(9)
	for i, id := range ids {
		if i%3 == 1 {
			var b bytes.Buffer
			if err := json.Indent(&b, records[id], "", "  "); err != nil {
				t.Fatal(err)
			}
			records[id] = append(b.Bytes(), "\r\n"...)
		}
	}
	src := &recordSource{records: records}
	m, db := newTestMirror(t, src)
	m.Workers = 1 // one fetcher: the batches hold records in order, indented ones among others
	ctx := context.Background()
	if err := db.EnqueueMirror(ctx, testTenant, m.Client.Base, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats.Inserted.Load(); got != int64(len(ids)) {
		t.Errorf("%d inserted, want %d", got, len(ids))
	}
	queued, parked, err := db.MirrorBacklog(ctx, testTenant, m.Client.Base)
	if err != nil || queued != 0 || parked != 0 {
		t.Errorf("backlog: %d queued, %d parked, %v; want none", queued, parked, err)
	}
	for _, id := range ids {
		if _, err := db.GetRecord(ctx, testTenant, id); err != nil {
			t.Errorf("record %s: %v", id, err)
		}
	}
}

// A source that answers a record's id with another record fails that
// fetch: the item is settled by the id asked for, and would otherwise be
// done with nothing stored under it.
func TestAnAnswerWithAnotherRecordFails(t *testing.T) {
	ids, records := testRecords(2)
	records[ids[0]] = records[ids[1]]
	src := &recordSource{records: records}
	m, _ := newTestMirror(t, src)
	_, err := m.Fetch(context.Background(), ids[0])
	if err == nil || !strings.Contains(err.Error(), "answered with the record \""+ids[1]+"\"") {
		t.Fatalf("err = %v, want the other record named", err)
	}
	// Graph's ids are GUIDs, which the source may write in either case.
	const lower = "abcdef00-0000-4000-8000-00000000000a"
	records[strings.ToUpper(lower)] = synth.RecordWithSessions(testTenant, 1, lower, 1)
	if _, err := m.Fetch(context.Background(), strings.ToUpper(lower)); err != nil {
		t.Errorf("the id in the other letter case: %v", err)
	}
}
