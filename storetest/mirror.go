package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunMirror runs the conformance suite of the optional callvault.MirrorStore
// capability. Its subtests use tenants of their own, so they may share one
// database.
func RunMirror(t *testing.T, open func(t *testing.T) callvault.Store) {
	s := &mirrorSuite{open: open}
	t.Run("queued ids are claimed once, settled, retried and parked", s.testQueue)
	t.Run("concurrent claimers never get the same id", s.testConcurrent)
	t.Run("named state is kept per tenant and source", s.testState)
	t.Run("listed versions are kept with the ids, the later listing wins", s.testListed)
	t.Run("an id queued again while claimed is due again when settled done", s.testRelisted)
}

type mirrorSuite struct {
	open func(t *testing.T) callvault.Store
}

func (s *mirrorSuite) store(t *testing.T) callvault.MirrorStore {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() { st.Close() })
	ms, ok := st.(callvault.MirrorStore)
	if !ok {
		t.Skip("the store keeps no mirror progress")
	}
	return ms
}

func ids(items []callvault.MirrorItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.RecordID)
	}
	return out
}

func (s *mirrorSuite) testQueue(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	a, src := tenant(t, "a"), "https://graph.example/beta"
	now := time.Now()
	if err := st.EnqueueMirror(ctx, a, src, []string{"r1", "r2", "r3"}, now); err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueMirror(ctx, a, src, []string{"r1"}, now.Add(time.Hour)); err != nil { // keeps the earlier due
		t.Fatal(err)
	}
	if got, _ := st.ClaimMirror(ctx, tenant(t, "b"), src, "me", now, time.Minute, 10); len(got) != 0 {
		t.Errorf("another tenant claimed %v", ids(got))
	}
	if got, _ := st.ClaimMirror(ctx, a, "https://other", "me", now, time.Minute, 10); len(got) != 0 {
		t.Errorf("another source claimed %v", ids(got))
	}
	got, err := st.ClaimMirror(ctx, a, src, "me", now, time.Minute, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("claimed %v, %v; want 3", ids(got), err)
	}
	if again, _ := st.ClaimMirror(ctx, a, src, "other", now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("leased items claimed again: %v", ids(again))
	}
	// Queued again while leased: stays leased.
	st.EnqueueMirror(ctx, a, src, []string{"r2"}, now)
	if again, _ := st.ClaimMirror(ctx, a, src, "other", now.Add(30*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("an enqueue broke a lease: %v", ids(again))
	}
	if err := st.SettleMirror(ctx, a, src, "me", []callvault.MirrorSettlement{
		{RecordID: "r1", Done: true},
		{RecordID: "r2", RetryAt: now.Add(10 * time.Second), Error: "503"},
		{RecordID: "r3", RetryAt: callvault.Parked, Error: "refused: bad record"},
	}); err != nil {
		t.Fatal(err)
	}
	queued, parked, err := st.MirrorBacklog(ctx, a, src)
	if err != nil || queued != 1 || parked != 1 {
		t.Errorf("backlog %d queued, %d parked, %v; want 1 and 1", queued, parked, err)
	}
	got, _ = st.ClaimMirror(ctx, a, src, "me", now.Add(11*time.Second), time.Minute, 10)
	if len(got) != 1 || got[0].RecordID != "r2" || got[0].Attempts != 1 || got[0].LastError != "503" {
		t.Errorf("the retry: %+v", got)
	}
	if n, err := st.UnparkMirror(ctx, a, src, now.Add(12*time.Second)); err != nil || n != 1 {
		t.Errorf("unparked %d, %v", n, err)
	}
	got, _ = st.ClaimMirror(ctx, a, src, "me", now.Add(13*time.Second), time.Minute, 10)
	if len(got) != 1 || got[0].RecordID != "r3" || got[0].Attempts != 0 {
		t.Errorf("after unparking: %+v", got)
	}
	// After its lease a claimed item goes to another owner.
	got, _ = st.ClaimMirror(ctx, a, src, "other", now.Add(3*time.Minute), time.Minute, 10)
	if len(got) != 2 {
		t.Errorf("after the leases: %v, want r2 and r3", ids(got))
	}
	// Released (settled with no error): due again at once, no attempt
	// counted, the last error kept.
	if err := st.SettleMirror(ctx, a, src, "other", []callvault.MirrorSettlement{
		{RecordID: "r2", RetryAt: now.Add(3 * time.Minute)},
		{RecordID: "r3", RetryAt: now.Add(3 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ = st.ClaimMirror(ctx, a, src, "me", now.Add(3*time.Minute), time.Minute, 10)
	if len(got) != 2 {
		t.Fatalf("after releasing: %+v, want r2 and r3", got)
	}
	for _, it := range got {
		want := map[string]mirrorWant{"r2": {1, "503"}, "r3": {0, "refused: bad record"}}[it.RecordID]
		if it.Attempts != want.attempts || it.LastError != want.lastError {
			t.Errorf("released %s: attempts %d, last error %q; want %d, %q", it.RecordID, it.Attempts, it.LastError, want.attempts, want.lastError)
		}
	}
}

// mirrorWant is what a mirror item should say of its attempts.
type mirrorWant struct {
	attempts  int
	lastError string
}

func (s *mirrorSuite) testConcurrent(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	a, src := tenant(t, "a"), "https://graph.example/beta"
	var all []string
	for i := range 300 {
		all = append(all, fmt.Sprint("r", i))
	}
	now := time.Now()
	if err := st.EnqueueMirror(ctx, a, src, all, now); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		owner := fmt.Sprint("w", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := st.ClaimMirror(ctx, a, src, owner, now, time.Hour, 9)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				var done []callvault.MirrorSettlement
				mu.Lock()
				for _, it := range got {
					if prev, ok := seen[it.RecordID]; ok {
						t.Errorf("%s claimed by %s and %s", it.RecordID, prev, owner)
					}
					seen[it.RecordID] = owner
					done = append(done, callvault.MirrorSettlement{RecordID: it.RecordID, Done: true})
				}
				mu.Unlock()
				if err := st.SettleMirror(ctx, a, src, owner, done); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != len(all) {
		t.Errorf("%d claimed, want %d", len(seen), len(all))
	}
	if q, p, _ := st.MirrorBacklog(ctx, a, src); q != 0 || p != 0 {
		t.Errorf("backlog after all were done: %d, %d", q, p)
	}
}

// listingStore is the store of a subtest of MirrorListingStore, skipping
// it for a store without that capability, with the subtest's tenant and
// source.
func (s *mirrorSuite) listingStore(t *testing.T) (_ callvault.MirrorListingStore, tenantA, source string) {
	t.Helper()
	ls, ok := s.store(t).(callvault.MirrorListingStore)
	if !ok {
		t.Skip("the store keeps no listed versions in its mirror queue")
	}
	return ls, tenant(t, "a"), "https://graph.example/beta"
}

// listing is what a claimed item says of its listing.
type listing struct {
	listed   bool
	version  int64
	modified time.Time
}

func (s *mirrorSuite) testListed(t *testing.T) {
	st, a, src := s.listingStore(t)
	ctx, now := context.Background(), time.Now()
	t1 := time.Date(2026, 11, 2, 10, 0, 0, 582757000, time.UTC)
	t2 := t1.Add(time.Minute)
	enqueue := func(due time.Time, ls ...callvault.MirrorListing) {
		t.Helper()
		if err := st.EnqueueMirrorListed(ctx, a, src, ls, due); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(now,
		callvault.MirrorListing{RecordID: "r1", Version: 1, LastModified: t1},
		callvault.MirrorListing{RecordID: "r2", Version: 2, LastModified: t1},
		callvault.MirrorListing{RecordID: "r3", Version: 1, LastModified: t1},
		callvault.MirrorListing{RecordID: "r4", Version: 1, LastModified: t1},
		callvault.MirrorListing{RecordID: "r5", Version: 1}, // no time listed
	)
	enqueue(now.Add(time.Hour),
		callvault.MirrorListing{RecordID: "r1", Version: 2, LastModified: t1}, // a newer version
		callvault.MirrorListing{RecordID: "r2", Version: 1, LastModified: t2}, // an older one
		callvault.MirrorListing{RecordID: "r3", Version: 1, LastModified: t2}, // the same, modified later
	)
	if err := st.EnqueueMirror(ctx, a, src, []string{"r4", "r6"}, now); err != nil { // by id alone: fetched whatever
		t.Fatal(err)
	}
	enqueue(now, callvault.MirrorListing{RecordID: "r4", Version: 3, LastModified: t2}) // still fetched whatever
	got, err := st.ClaimMirror(ctx, a, src, "me", now, time.Minute, 10)
	if err != nil || len(got) != 6 {
		t.Fatalf("claimed %v, %v; want 6 (every enqueue kept the earlier due)", ids(got), err)
	}
	want := map[string]listing{
		"r1": {true, 2, t1}, "r2": {true, 2, t1}, "r3": {true, 1, t2},
		"r4": {}, "r5": {true, 1, time.Time{}}, "r6": {},
	}
	for _, it := range got {
		if w := want[it.RecordID]; it.Listed != w.listed || it.Version != w.version || !it.LastModified.Equal(w.modified) {
			t.Errorf("%s: listed %v at %d, %v; want %+v", it.RecordID, it.Listed, it.Version, it.LastModified, w)
		}
	}
}

func (s *mirrorSuite) testRelisted(t *testing.T) {
	st, a, src := s.listingStore(t)
	ctx, now := context.Background(), time.Now()
	t1 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	if err := st.EnqueueMirrorListed(ctx, a, src, []callvault.MirrorListing{
		{RecordID: "r1", Version: 1, LastModified: t1}, {RecordID: "r2", Version: 1, LastModified: t1},
		{RecordID: "r3", Version: 1, LastModified: t1}, {RecordID: "r4", Version: 1, LastModified: t1},
	}, now); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimMirror(ctx, a, src, "me", now, time.Minute, 10); err != nil || len(got) != 4 {
		t.Fatalf("claimed %v, %v", ids(got), err)
	}
	// Listed again while claimed (r1 at a newer version, r2 at the same),
	// queued by id (r3): the leases hold.
	if err := st.EnqueueMirrorListed(ctx, a, src, []callvault.MirrorListing{
		{RecordID: "r1", Version: 2, LastModified: t1}, {RecordID: "r2", Version: 1, LastModified: t1},
	}, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueMirror(ctx, a, src, []string{"r3"}, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.ClaimMirror(ctx, a, src, "other", now.Add(3*time.Second), time.Minute, 10); len(again) != 0 {
		t.Errorf("an enqueue broke a lease: %v", ids(again))
	}
	var done []callvault.MirrorSettlement
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		done = append(done, callvault.MirrorSettlement{RecordID: id, Done: true})
	}
	if err := st.SettleMirror(ctx, a, src, "me", done); err != nil {
		t.Fatal(err)
	}
	// r4 is gone; the others are due again, at their enqueue's due, with
	// the latest listing, no attempt counted.
	if got, _ := st.ClaimMirror(ctx, a, src, "other", now.Add(time.Second), time.Minute, 10); len(got) != 2 {
		t.Errorf("due a second on: %v, want r1 and r2", ids(got))
	}
	got, err := st.ClaimMirror(ctx, a, src, "other", now.Add(2*time.Second), time.Minute, 10)
	if err != nil || len(got) != 1 || got[0].RecordID != "r3" || got[0].Listed || got[0].Attempts != 0 {
		t.Errorf("due two seconds on: %+v, %v; want r3, to fetch whatever the store holds", got, err)
	}
	if q, _, _ := st.MirrorBacklog(ctx, a, src); q != 3 {
		t.Errorf("backlog %d, want 3", q)
	}
	// Settled done again, with no enqueue since the claim: gone.
	if err := st.SettleMirror(ctx, a, src, "other", []callvault.MirrorSettlement{{RecordID: "r3", Done: true}}); err != nil {
		t.Fatal(err)
	}
	if q, _, _ := st.MirrorBacklog(ctx, a, src); q != 2 {
		t.Errorf("backlog %d, want 2", q)
	}
}

func (s *mirrorSuite) testState(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	a, src := tenant(t, "a"), "https://graph.example/beta"
	if v, err := st.MirrorState(ctx, a, src, "sweep"); err != nil || v != nil {
		t.Errorf("no state yet: %q, %v", v, err)
	}
	for _, v := range []string{`{"done":"2026-11-01"}`, `{"done":"2026-11-02"}`} {
		if err := st.SetMirrorState(ctx, a, src, "sweep", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := st.MirrorState(ctx, a, src, "sweep"); string(v) != `{"done":"2026-11-02"}` {
		t.Errorf("state %q", v)
	}
	if v, _ := st.MirrorState(ctx, tenant(t, "b"), src, "sweep"); v != nil {
		t.Errorf("another tenant's state: %q", v)
	}
}
