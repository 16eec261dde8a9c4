package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/synth"
)

// fuzzSource answers the record the fuzzer asks for with its bytes, and
// every other request (a nextLink) with its page: a source the mirror
// cannot trust. Loopback only.
type fuzzSource struct {
	mu             sync.Mutex
	record, page   []byte
	requests       atomic.Int64
	recordPath     string
	recordRequests atomic.Int64
}

func (s *fuzzSource) set(record, page []byte) {
	s.mu.Lock()
	s.record, s.page = record, page
	s.mu.Unlock()
	s.requests.Store(0)
	s.recordRequests.Store(0)
}

func (s *fuzzSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	body := s.page
	if r.URL.Path == s.recordPath {
		body = s.record
		s.recordRequests.Add(1)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// fuzzID is the record the fuzzer's source answers for.
const fuzzID = "f022f022-0000-4000-8000-000000000001"

// FuzzFetch has the mirror fetch and store a record whose answer, and the
// pages its nextLinks lead to, are whatever the fuzzer makes. Whatever the
// source says, the mirror must not panic, must ask it a bounded number of
// times, and must either fail the fetch with an error or store what it
// fetched through the importer: one JSON object on one line, with the id
// asked for, after which the item is settled exactly once and, when it is
// done, the record is in the store.
func FuzzFetch(f *testing.F) {
	src := &fuzzSource{recordPath: "/beta/communications/callRecords/" + fuzzID}
	// One attempt a request: the source answers 200 to everything, so
	// nothing would be retried anyway, and no backoff can stall a run.
	m, db := newSourceMirror(f, src)

	whole := synth.RecordWithSessions(testTenant, 1, fuzzID, 3)
	f.Add(whole, []byte(`{"value":[]}`))
	var indented bytes.Buffer
	json.Indent(&indented, whole, "", "\t")
	f.Add(indented.Bytes(), []byte(`{"value":[]}`))
	// A record whose sessions and participants go on in pages.
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(whole, &rec); err != nil {
		f.Fatal(err)
	}
	sessions := rec["sessions"]
	rec["sessions"] = json.RawMessage(`[]`)
	rec["sessions@odata.nextLink"] = json.RawMessage(fmt.Sprintf("%q", m.Client.Base+"/communications/callRecords/"+fuzzID+"/sessions?$skiptoken=1"))
	rec["participants_v2@odata.nextLink"] = json.RawMessage(`"https://graph.microsoft.com/beta/communications/callRecords/` + fuzzID + `/participants_v2?$skiptoken=2"`)
	paged, _ := json.Marshal(rec)
	f.Add(paged, []byte(`{"value":`+string(sessions)+`}`))
	f.Add(paged, []byte(`{"value":[],"@odata.nextLink":"/communications/callRecords/x/sessions?$skiptoken=3"}`))
	f.Add([]byte(`{"id":"`+fuzzID+`","version":"1"}`), []byte(`null`))
	f.Add([]byte(`{"id":"another"}`), []byte(``))
	f.Add([]byte(`[1,2]`), []byte(`{}`))

	f.Fuzz(func(t *testing.T, record, page []byte) {
		src.set(record, page)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		body, err := m.Fetch(ctx, fuzzID)
		// The record, then at most two walks (sessions, participants), each
		// ending at a link it has followed: the page's own link, given
		// twice, ends a walk at its second page.
		if n := src.requests.Load(); n > 5 {
			t.Fatalf("%d requests to the source for one record", n)
		}
		if ctx.Err() != nil {
			t.Fatalf("the fetch ran into its deadline: %v", err)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if len(body) == 0 || body[0] != '{' || !json.Valid(body) {
			t.Fatalf("fetched a record that is not one JSON object: %.200q", body)
		}
		if bytes.ContainsAny(body, "\r\n") {
			t.Fatalf("fetched a record across lines: %.200q", body)
		}
		// Names are case-sensitive: "Id" is not the id (a struct field
		// would take it).
		var head map[string]json.RawMessage
		var id string
		if json.Unmarshal(body, &head) == nil && json.Unmarshal(head["id"], &id) == nil && !strings.EqualFold(id, fuzzID) {
			t.Fatalf("fetched the record %q for %q", id, fuzzID)
		}
		settled := m.storeBatch(ctx, []fetchResult{{item: callvault.MirrorItem{RecordID: fuzzID}, record: body}})
		if len(settled) != 1 || settled[0].RecordID != fuzzID {
			t.Fatalf("settled %+v, want the one item", settled)
		}
		s := settled[0]
		if s.Done != (s.Error == "") {
			t.Fatalf("settled %+v: done with an error, or not done without one", s)
		}
		if !s.Done {
			return
		}
		r, err := db.GetRecord(ctx, testTenant, fuzzID)
		if err != nil {
			t.Fatalf("settled done, but the record is not stored: %v", err)
		}
		if _, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: testTenant, RecordID: r.ID, Limit: 60, Segments: true}); err != nil {
			t.Fatalf("the stored record's sessions: %v", err)
		}
	})
}

// FuzzSweep has the mirror list a window whose pages are whatever the
// fuzzer makes (every nextLink answers the same page), against a store
// that holds one record. It must not panic, must ask a bounded number of
// times, and must queue only ids the pages listed, never the stored
// record at the version it holds.
func FuzzSweep(f *testing.F) {
	src := &fuzzSource{recordPath: "/none"}
	m, db := newSourceMirror(f, src)
	stored := synth.RecordWithSessions(testTenant, 1, fuzzID, 1)
	if s := m.storeBatch(context.Background(), []fetchResult{{item: callvault.MirrorItem{RecordID: fuzzID}, record: stored}}); !s[0].Done {
		f.Fatalf("the stored record: %+v", s[0])
	}
	h, err := db.GetRecord(context.Background(), testTenant, fuzzID)
	if err != nil {
		f.Fatal(err)
	}
	var head struct {
		LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
	}
	if err := json.Unmarshal(h.Body, &head); err != nil {
		f.Fatal(err)
	}
	storedModified := head.LastModifiedDateTime

	asStored := fmt.Sprintf(`{"id":%q,"version":%d,"lastModifiedDateTime":%q}`, fuzzID, h.Version, storedModified.Format(time.RFC3339Nano))
	f.Add([]byte(`{"value":[` + asStored + `]}`))
	f.Add([]byte(`{"value":[` + asStored + `,{"id":"a0000000-0000-4000-8000-000000000001","version":3,"lastModifiedDateTime":"2026-12-01T10:00:00Z"}]}`))
	f.Add([]byte(`{"value":[{"id":"b","version":1}],"@odata.nextLink":"` + m.Client.Base + `/communications/callRecords?$skiptoken=x"}`))
	f.Add([]byte(`{"value":[{"id":""},{"id":"c","version":"1"}]}`))
	f.Add([]byte(`{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/elsewhere"}`))

	f.Fuzz(func(t *testing.T, page []byte) {
		src.set(nil, page)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := m.sweepWindow(ctx, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		// The first page, then its nextLink's page, whose link is the same.
		if n := src.requests.Load(); n > 2 {
			t.Fatalf("%d requests to the source for one window", n)
		}
		if ctx.Err() != nil {
			t.Fatalf("the sweep ran into its deadline: %v", err)
		}
		// What the page lists, as the mirror reads it; a page it cannot
		// read lists nothing.
		var p struct {
			Value []listed `json:"value"`
		}
		if json.Unmarshal(page, &p) != nil {
			p.Value = nil
		}
		ids := map[string]bool{}
		unchanged := false // the stored record is listed, only as it is stored
		for _, v := range p.Value {
			ids[v.ID] = true
			if v.ID == fuzzID {
				unchanged = v.Version == h.Version && v.LastModifiedDateTime.Equal(storedModified)
			}
		}
		for _, v := range p.Value {
			if v.ID == fuzzID && (v.Version != h.Version || !v.LastModifiedDateTime.Equal(storedModified)) {
				unchanged = false
			}
		}
		items, cerr := db.ClaimMirror(ctx, testTenant, m.source(), "check", time.Now(), time.Minute, 10_000)
		if cerr != nil {
			t.Fatal(cerr)
		}
		var settled []callvault.MirrorSettlement
		for _, it := range items {
			settled = append(settled, callvault.MirrorSettlement{RecordID: it.RecordID, Done: true})
			if !ids[it.RecordID] {
				t.Errorf("queued %q, which the page did not list (sweep: %v)", it.RecordID, err)
			}
			if it.RecordID == fuzzID && unchanged {
				t.Errorf("queued the stored record, listed only at the version it holds")
			}
		}
		// The next execution starts from an empty queue.
		if err := db.SettleMirror(ctx, testTenant, m.source(), "check", settled); err != nil {
			t.Fatal(err)
		}
	})
}
