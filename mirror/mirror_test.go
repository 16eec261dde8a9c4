package mirror

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const testTenant = "11111111-2222-3333-4444-555555555555"

// recordSource serves call records by id on loopback, as Graph does for
// GET callRecords/{id} with sessions and participants inline, and counts
// the fetches. It refuses requests that do not prefer
// include-unknown-enum-members. Ids in broken get a record the importer refuses; a fetch
// blocks while hold is set, until release is closed.
type recordSource struct {
	records map[string][]byte
	broken  map[string]bool
	fetches atomic.Int64
	hold    atomic.Bool
	holding chan struct{} // gets a value for each fetch that blocks
	release chan struct{}
}

func (s *recordSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, id, _ := strings.Cut(r.URL.Path, "/communications/callRecords/")
	s.fetches.Add(1)
	if r.Header.Get("Prefer") != "include-unknown-enum-members" {
		// Without it a source hides newer enum members: the copy would lose them.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"the mirror must prefer include-unknown-enum-members"}}`)
		return
	}
	if s.hold.Load() {
		s.holding <- struct{}{}
		<-s.release
	}
	body, ok := s.records[id]
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"NotFound","message":"no such record"}}`)
		return
	}
	if s.broken[id] {
		body = []byte(`{"id":"` + id + `","version":"not a number"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func newTestMirror(t *testing.T, src *recordSource) (*Mirror, *sqlite.DB) {
	t.Helper()
	m, db := newSourceMirror(t, src)
	m.Workers, m.Batch, m.Client.MaxAttempts = 3, 5, 0
	return m, db
}

// newSourceMirror starts h as a source on loopback (its Base ends in
// /beta) and returns a mirror of it into a new SQLite store: one worker,
// batches of one, one attempt a request and a record, so that a test sees
// what each answer does at once.
func newSourceMirror(tb testing.TB, h http.Handler) (*Mirror, *sqlite.DB) {
	tb.Helper()
	srv := httptest.NewServer(h) // loopback only
	tb.Cleanup(srv.Close)
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "callvault.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	hc := outbound.Policy{AllowHTTP: true}.Client(5 * time.Second)
	c := &Client{Base: srv.URL + "/beta", HTTP: hc, Tokens: staticToken("t"), Tenant: testTenant, App: "app", MaxAttempts: 1}
	m := &Mirror{Client: c, Store: db, Tenant: testTenant, Workers: 1, Batch: 1, MaxAttempts: 1}
	m.init()
	return m, db
}

func testRecords(n int) (ids []string, records map[string][]byte) {
	records = map[string][]byte{}
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ids = append(ids, id)
		records[id] = synth.RecordWithSessions(testTenant, int64(i), id, 1+i%4)
	}
	return ids, records
}

// Records fetched by several workers are stored in batches, each record
// whole or not at all: a refused record is parked alone, its batch's
// others are stored.
func TestDrainStoresBatchesAndParksOnlyTheRefused(t *testing.T) {
	ids, records := testRecords(23)
	src := &recordSource{records: records, broken: map[string]bool{ids[7]: true}}
	m, db := newTestMirror(t, src)
	ctx := context.Background()
	if err := db.EnqueueMirror(ctx, testTenant, m.Client.Base, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := src.fetches.Load(); got != 23 {
		t.Errorf("%d fetches, want 23 (each record once)", got)
	}
	if got := m.Stats.Inserted.Load(); got != 22 {
		t.Errorf("%d inserted, want 22", got)
	}
	queued, parked, err := db.MirrorBacklog(ctx, testTenant, m.Client.Base)
	if err != nil || queued != 0 || parked != 1 {
		t.Errorf("backlog: %d queued, %d parked, %v; want 0 and 1", queued, parked, err)
	}
	for i, id := range ids {
		_, err := db.GetRecord(ctx, testTenant, id)
		if stored := err == nil; stored != (i != 7) {
			t.Errorf("record %d stored: %v (%v)", i, stored, err)
		}
	}
}

// A mirror stopped while records are claimed but not yet fetched releases
// them: a restarted mirror (another owner) takes them at once, with no
// attempt counted, and nothing is lost or stored twice.
func TestDrainStoppedReleasesWhatItDidNotFetch(t *testing.T) {
	ids, records := testRecords(12)
	src := &recordSource{records: records, holding: make(chan struct{}, 16), release: make(chan struct{})}
	src.hold.Store(true)
	m, db := newTestMirror(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	if err := db.EnqueueMirror(ctx, testTenant, m.Client.Base, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- m.Drain(ctx, true) }()
	for range m.Workers {
		<-src.holding // every worker has a record in hand
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // the claimer sees ctx end and releases
	src.hold.Store(false)
	close(src.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := m.Stats.Inserted.Load(); got != int64(m.Workers) {
		t.Errorf("stopped: %d inserted, want the %d in hand", got, m.Workers)
	}
	again := &Mirror{Client: m.Client, Store: db, Tenant: testTenant, Workers: 2, Batch: 4}
	items, err := db.ClaimMirror(context.Background(), testTenant, m.Client.Base, "peek", time.Now(), time.Millisecond, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(ids)-m.Workers {
		t.Errorf("%d items due after the stop, want %d: the unfetched ones released", len(items), len(ids)-m.Workers)
	}
	for _, it := range items {
		if it.Attempts != 0 {
			t.Errorf("released %s counts %d attempts", it.RecordID, it.Attempts)
		}
	}
	time.Sleep(5 * time.Millisecond) // the peek's lease runs out
	if err := again.Drain(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats.Inserted.Load() + again.Stats.Inserted.Load(); got != int64(len(ids)) {
		t.Errorf("%d inserted in all, want %d", got, len(ids))
	}
	if n := src.fetches.Load(); n != int64(len(ids)) {
		t.Errorf("%d fetches, want %d: none twice", n, len(ids))
	}
	for _, id := range ids {
		if _, err := db.GetRecord(context.Background(), testTenant, id); err != nil {
			t.Errorf("record %s: %v", id, callvault.ErrorCode(err))
		}
	}
}
