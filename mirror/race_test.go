package mirror

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/sqlite"
)

// TestTwoMirrorsFetchEachRecordOnce: two mirrors on one store, and the
// interleaving that used to fetch a record twice, forced for every record:
// mirror A checks its store for a listed record (not there), mirror B,
// which listed it first, fetches, stores and settles it, and only then
// does A queue it. The source counts the fetches of each record: one each,
// on both stores.
func TestTwoMirrorsFetchEachRecordOnce(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testTwoMirrors(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := postgres.Open(t.Context(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testTwoMirrors(t, db)
	})
}

func testTwoMirrors(t *testing.T, db Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 10
	ids, records := testRecords(n)
	var mu sync.Mutex
	checked, settled := map[string]chan struct{}{}, map[string]chan struct{}{}
	for _, id := range ids {
		checked[id], settled[id] = make(chan struct{}), make(chan struct{})
	}
	closeOnce := func(chans map[string]chan struct{}, id string) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-chans[id]:
		default:
			close(chans[id])
		}
	}
	wait := func(c chan struct{}, what, id string) {
		select {
		case <-c:
		case <-time.After(10 * time.Second):
			t.Errorf("record %s: waited 10 s for %s", id, what)
		}
	}

	src := &listingSource{recordSource: recordSource{records: records}, ids: ids, fetched: map[string]int{}}
	// B's fetch of a record waits until A has checked its store for it.
	src.gate = func(id string) { wait(checked[id], "mirror A's check", id) }
	srv := httptest.NewServer(src) // loopback only
	t.Cleanup(srv.Close)
	newMirror := func(owner string, st Store) *Mirror {
		hc := outbound.Policy{AllowHTTP: true}.Client(5 * time.Second)
		c := &Client{Base: srv.URL, HTTP: hc, Tokens: staticToken("t"), Tenant: testTenant, App: "app"}
		return &Mirror{Client: c, Store: st, Tenant: testTenant, Owner: owner, Workers: 1, Batch: 1, MaxAttempts: 2}
	}
	a := newMirror("a", &hookStore{Store: db,
		afterGet:      func(id string) { closeOnce(checked, id) },
		beforeEnqueue: func(id string) { wait(settled[id], "mirror B's settle", id) },
	})
	b := newMirror("b", &hookStore{Store: db,
		afterSettle: func(s callvault.MirrorSettlement) {
			if s.Done {
				closeOnce(settled, s.RecordID)
			}
		},
	})

	now := time.Now()
	if err := b.Sweep(ctx, now.Add(-time.Hour), now, ""); err != nil { // B queues every record
		t.Fatal(err)
	}
	drained := make(chan error, 1)
	go func() { drained <- b.Drain(ctx, false) }()
	if err := a.Sweep(ctx, now.Add(-time.Hour), now, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.Drain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if got := a.Stats.Queued.Load(); got != n {
		t.Errorf("mirror A queued %d records, want %d: the interleaving was not forced", got, n)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	for _, id := range ids {
		if got := src.fetched[id]; got != 1 {
			t.Errorf("record %s fetched %d times, want once", id, got)
		}
		if _, err := db.GetRecord(ctx, testTenant, id); err != nil {
			t.Errorf("record %s: %v", id, err)
		}
	}
	if q, p, err := db.MirrorBacklog(ctx, testTenant, srv.URL); q != 0 || p != 0 || err != nil {
		t.Errorf("backlog %d queued, %d parked, %v; want none", q, p, err)
	}
	t.Logf("A: %d queued, %d skipped; B: %d queued, %d skipped", a.Stats.Queued.Load(), a.Stats.Skipped.Load(), b.Stats.Queued.Load(), b.Stats.Skipped.Load())
}

// listingSource is a recordSource that also lists its records, one page
// with all of them whatever the filter, as Graph lists them with
// $select=id,version,lastModifiedDateTime, and counts the fetches of each
// record. gate, when set, runs before a record is served.
type listingSource struct {
	recordSource
	ids  []string
	gate func(id string)

	mu      sync.Mutex
	fetched map[string]int
}

func (s *listingSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/communications/callRecords" {
		var page struct {
			Value []listed `json:"value"`
		}
		for _, id := range s.ids {
			var l listed
			json.Unmarshal(s.records[id], &l)
			page.Value = append(page.Value, l)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(page)
		return
	}
	id := r.URL.Path[len("/communications/callRecords/"):]
	if s.gate != nil {
		s.gate(id)
	}
	s.mu.Lock()
	s.fetched[id]++
	s.mu.Unlock()
	s.recordSource.ServeHTTP(w, r)
}

// hookStore is a mirror's Store with hooks after a record is read, before
// an id is queued, and after an item is settled. It forwards the store's
// MirrorListingStore.
type hookStore struct {
	Store
	afterGet      func(id string)
	beforeEnqueue func(id string)
	afterSettle   func(callvault.MirrorSettlement)
}

func (h *hookStore) GetRecord(ctx context.Context, tenant, id string) (*callvault.RecordHeader, error) {
	r, err := h.Store.GetRecord(ctx, tenant, id)
	if h.afterGet != nil {
		h.afterGet(id)
	}
	return r, err
}

func (h *hookStore) EnqueueMirror(ctx context.Context, tenant, source string, ids []string, due time.Time) error {
	for _, id := range ids {
		if h.beforeEnqueue != nil {
			h.beforeEnqueue(id)
		}
	}
	return h.Store.EnqueueMirror(ctx, tenant, source, ids, due)
}

func (h *hookStore) SettleMirror(ctx context.Context, tenant, source, owner string, settled []callvault.MirrorSettlement) error {
	err := h.Store.SettleMirror(ctx, tenant, source, owner, settled)
	if err == nil && h.afterSettle != nil {
		for _, s := range settled {
			h.afterSettle(s)
		}
	}
	return err
}

// EnqueueMirrorListed forwards the capability, with the same hook.
func (h *hookStore) EnqueueMirrorListed(ctx context.Context, tenant, source string, listed []callvault.MirrorListing, due time.Time) error {
	for _, l := range listed {
		if h.beforeEnqueue != nil {
			h.beforeEnqueue(l.RecordID)
		}
	}
	return h.Store.(callvault.MirrorListingStore).EnqueueMirrorListed(ctx, tenant, source, listed, due)
}

// A claimed record listed at the version its store holds is settled
// without a fetch; one listed at a newer version, or queued by id alone
// (a notification), is fetched.
func TestClaimSkipsOnlyWhatTheStoreHoldsAtTheListedVersion(t *testing.T) {
	ids, records := testRecords(3)
	src := &recordSource{records: records}
	m, db := newTestMirror(t, src)
	ctx := context.Background()
	if err := db.EnqueueMirror(ctx, testTenant, m.Client.Base, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, false); err != nil || src.fetches.Load() != 3 {
		t.Fatalf("first drain: %d fetches, %v", src.fetches.Load(), err)
	}
	var listings []callvault.MirrorListing
	for i, id := range ids {
		var l listed
		json.Unmarshal(records[id], &l)
		if i == 1 { // revised on the source since
			var rec map[string]any
			json.Unmarshal(records[id], &rec)
			rec["version"] = l.Version + 1
			records[id], _ = json.Marshal(rec)
			l.Version++
		}
		listings = append(listings, callvault.MirrorListing{RecordID: l.ID, Version: l.Version, LastModified: l.LastModifiedDateTime})
	}
	if err := db.EnqueueMirrorListed(ctx, testTenant, m.Client.Base, listings[:2], time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.EnqueueMirror(ctx, testTenant, m.Client.Base, ids[2:], time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.Drain(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := src.fetches.Load(); got != 5 {
		t.Errorf("%d fetches in all, want 5: the revised record and the notified one again", got)
	}
	if got := m.Stats.Skipped.Load(); got != 1 {
		t.Errorf("%d skipped, want 1", got)
	}
	if h, err := db.GetRecord(ctx, testTenant, ids[1]); err != nil || h.Version != listings[1].Version {
		t.Errorf("the revised record: %+v, %v; want version %d", h, err, listings[1].Version)
	}
}
