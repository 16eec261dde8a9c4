// Package storetest is the conformance suite of callvault.Store. Every store
// runs it from its own tests, and a store ships only when it passes:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) callvault.Store { ... })
//	}
package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// Run runs the conformance suite against the stores that open returns:
// Store's methods, and those optional capabilities of callvault.Store that
// have no Run function of their own (BatchStore, SessionPageVisitor,
// ScriptCompiler, SecretUpdater by LoadOrCreateSecret, MigrationReporter, Pinger,
// ReplicaReporter), each skipped when the store lacks it. RunSubscriptions,
// RunMirror, RunQuality, RunSecrets and RunBuckets run the others.
//
// open is called once by each subtest, possibly from parallel subtests, and
// returns a store for that subtest alone; Run closes it when the subtest
// ends. The subtests use tenants named after themselves, so a store that
// several subtests share, such as one database, works as well as an empty
// store for each.
func Run(t *testing.T, open func(t *testing.T) callvault.Store) {
	s := &suite{open: open}
	t.Run("a record put then listed returns its sessions and segments byte for byte", s.testRoundTrip)
	t.Run("paging walks every session exactly once in order", s.testPaging)
	t.Run("a cursor at or past the last session gives an empty last page", s.testPastTheEnd)
	t.Run("sessions listed without segments carry no segments", s.testNoSegments)
	t.Run("a record with no sessions lists an empty page", s.testNoSessions)
	t.Run("an unknown record is not found", s.testNotFound)
	t.Run("tenants are walls", s.testTenants)
	t.Run("versions decide what a put does", s.testVersions)
	t.Run("invalid input is refused", s.testInvalid)
	t.Run("invalid queries are refused", s.testInvalidQueries)
	t.Run("the header of a record is what was put", s.testHeader)
	t.Run("a large record round-trips", s.testLargeRecord)
	t.Run("render scripts round-trip beside their bodies, and none stays none", s.testRender)
	t.Run("readers see whole pages while writers replace records", s.testConcurrency)
	t.Run("every write gives a record a new stamp, and a page held at its stamp is not read again", s.testStamps)

	t.Run("records list by start time then id, each once, in pages of any size", s.testListOrder)
	t.Run("a start time range includes or excludes the exact instant of each bound", s.testStartRange)
	t.Run("a participant filter lists that participant's records, each once", s.testParticipantFilter)
	t.Run("retention hides the records that ended before NotBefore", s.testRetention)
	t.Run("a replaced record is seen whole and anew by every query", s.testReplaceSeenEverywhere)
	t.Run("a session is got by its id, with or without segments", s.testGetSession)
	t.Run("participants page by their position, each once in order", s.testListParticipants)
	t.Run("a participant is got by its id", s.testGetParticipant)
	t.Run("report rows", s.testReportRows)

	t.Run("optional capabilities", s.testCapabilities)
}

type suite struct {
	open func(t *testing.T) callvault.Store
}

// store opens a store for the (parallel) subtest t and closes it when t ends.
func (s *suite) store(t *testing.T) callvault.Store {
	t.Helper()
	t.Parallel()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// tenant returns a tenant id that no other subtest uses.
func tenant(t *testing.T, name string) string {
	return t.Name() + "#" + name
}

func (s *suite) testRoundTrip(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{
		tenant:   tenant(t, "a"),
		id:       "round-trip",
		version:  1,
		sessions: 7,
		segments: func(seq int) int { return []int{0, 1, 3}[seq%3] },
	}
	r := spec.record()
	if outcome := put(t, st, r); outcome != callvault.Inserted {
		t.Fatalf("put a new record: got %v, want %v", outcome, callvault.Inserted)
	}
	page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, Limit: 100, Segments: true})
	if page.More {
		t.Error("More is true on the only page")
	}
	checkPage(t, page, r.Sessions, 0, true)
}

func (s *suite) testPaging(t *testing.T) {
	for _, tt := range []struct{ sessions, limit int }{
		{1000, 60},
		{120, 60},
		{61, 60},
		{59, 60},
		{5, 1},
		{1, 1},
	} {
		t.Run(fmt.Sprintf("%d sessions in pages of %d", tt.sessions, tt.limit), func(t *testing.T) {
			st := s.store(t)
			spec := recordSpec{
				tenant:   tenant(t, "a"),
				id:       "paging",
				version:  1,
				sessions: tt.sessions,
				segments: func(seq int) int { return seq % 3 },
			}
			r := spec.record()
			put(t, st, r)

			var after int64
			pages := 0
			for {
				page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, After: after, Limit: tt.limit, Segments: true})
				pages++
				want := r.Sessions[after:min(int(after)+tt.limit, len(r.Sessions))]
				checkPage(t, page, want, after, true)
				if t.Failed() {
					t.FailNow()
				}
				if !page.More {
					break
				}
				if len(page.Sessions) == 0 {
					t.Fatalf("page %d is empty but says More", pages)
				}
				after = page.Sessions[len(page.Sessions)-1].Seq
			}
			if want := (tt.sessions + tt.limit - 1) / tt.limit; pages != want {
				t.Errorf("walked %d pages, want %d", pages, want)
			}
		})
	}
}

func (s *suite) testPastTheEnd(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "past", version: 1, sessions: 10, segments: one}
	put(t, st, spec.record())
	for _, after := range []int64{10, 11, 1 << 40} {
		page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, After: after, Limit: 5, Segments: true})
		if len(page.Sessions) != 0 || page.More {
			t.Errorf("after %d: got %d sessions, More %v; want an empty last page", after, len(page.Sessions), page.More)
		}
	}
}

func (s *suite) testNoSegments(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "no-segments", version: 1, sessions: 12, segments: func(int) int { return 2 }}
	r := spec.record()
	put(t, st, r)
	page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, After: 2, Limit: 5})
	if !page.More {
		t.Error("More is false with sessions to follow")
	}
	checkPage(t, page, r.Sessions[2:7], 2, false)
}

func (s *suite) testNoSessions(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "empty", version: 1}
	put(t, st, spec.record())
	for _, segments := range []bool{false, true} {
		page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, Limit: 60, Segments: segments})
		if len(page.Sessions) != 0 || page.More {
			t.Errorf("segments %v: got %d sessions, More %v; want an empty last page", segments, len(page.Sessions), page.More)
		}
	}
	if h := get(t, st, spec.tenant, spec.id); h.Sessions != 0 {
		t.Errorf("header counts %d sessions, want 0", h.Sessions)
	}
}

func (s *suite) testNotFound(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	put(t, st, recordSpec{tenant: a, id: "known", version: 1, sessions: 3}.record())

	for _, id := range []string{"unknown", "Known", "known ", "know"} {
		_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: a, RecordID: id, Limit: 10, Segments: true})
		wantCode(t, err, callvault.ENOTFOUND, "list sessions of %q", id)
		_, err = st.GetRecord(ctx, a, id)
		wantCode(t, err, callvault.ENOTFOUND, "get record %q", id)
	}
	_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: tenant(t, "nobody"), RecordID: "known", Limit: 10})
	wantCode(t, err, callvault.ENOTFOUND, "list sessions in a tenant with no records")
}

func (s *suite) testTenants(t *testing.T) {
	t.Run("each tenant sees only its own record of a shared id", func(t *testing.T) {
		st := s.store(t)
		a := recordSpec{tenant: tenant(t, "a"), id: "shared", version: 1, sessions: 8, segments: one}
		b := recordSpec{tenant: tenant(t, "b"), id: "shared", version: 1, sessions: 3, segments: func(int) int { return 2 }}
		ra, rb := a.record(), b.record()
		put(t, st, ra)
		if outcome := put(t, st, rb); outcome != callvault.Inserted {
			t.Errorf("put of tenant b's record: got %v, want %v", outcome, callvault.Inserted)
		}
		checkPage(t, list(t, st, callvault.SessionQuery{Tenant: a.tenant, RecordID: "shared", Limit: 100, Segments: true}), ra.Sessions, 0, true)
		checkPage(t, list(t, st, callvault.SessionQuery{Tenant: b.tenant, RecordID: "shared", Limit: 100, Segments: true}), rb.Sessions, 0, true)
		if h := get(t, st, b.tenant, "shared"); h.Sessions != 3 || !bytes.Equal(h.Body, rb.Body) {
			t.Errorf("tenant b's header: got %d sessions and body %s; want 3 and %s", h.Sessions, h.Body, rb.Body)
		}
	})

	t.Run("a higher version in one tenant leaves another's record alone", func(t *testing.T) {
		st := s.store(t)
		a := recordSpec{tenant: tenant(t, "a"), id: "shared", version: 5, sessions: 4, segments: one}
		b := recordSpec{tenant: tenant(t, "b"), id: "shared", version: 9, sessions: 2, segments: one}
		ra := a.record()
		put(t, st, ra)
		if outcome := put(t, st, b.record()); outcome != callvault.Inserted {
			t.Errorf("put of tenant b's record: got %v, want %v", outcome, callvault.Inserted)
		}
		checkPage(t, list(t, st, callvault.SessionQuery{Tenant: a.tenant, RecordID: "shared", Limit: 100, Segments: true}), ra.Sessions, 0, true)
		if h := get(t, st, a.tenant, "shared"); h.Version != 5 {
			t.Errorf("tenant a's version: got %d, want 5", h.Version)
		}
	})

	t.Run("a tenant asking for another tenant's record gets not found", func(t *testing.T) {
		st := s.store(t)
		ctx := t.Context()
		a := recordSpec{tenant: tenant(t, "a"), id: "private", version: 1, sessions: 5, segments: one}
		put(t, st, a.record())
		b := tenant(t, "b")
		put(t, st, recordSpec{tenant: b, id: "other", version: 1, sessions: 5}.record())

		for _, after := range []int64{0, 2} {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: b, RecordID: "private", After: after, Limit: 10, Segments: true})
			wantCode(t, err, callvault.ENOTFOUND, "tenant b lists tenant a's sessions after %d", after)
		}
		_, err := st.GetRecord(ctx, b, "private")
		wantCode(t, err, callvault.ENOTFOUND, "tenant b gets tenant a's record")
	})

	t.Run("a cursor from another tenant's walk reveals nothing", func(t *testing.T) {
		st := s.store(t)
		a := recordSpec{tenant: tenant(t, "a"), id: "shared", version: 1, sessions: 100, segments: one}
		b := recordSpec{tenant: tenant(t, "b"), id: "shared", version: 1, sessions: 5, segments: one}
		put(t, st, a.record())
		rb := b.record()
		put(t, st, rb)

		pa := list(t, st, callvault.SessionQuery{Tenant: a.tenant, RecordID: "shared", Limit: 60})
		after := pa.Sessions[len(pa.Sessions)-1].Seq
		pb := list(t, st, callvault.SessionQuery{Tenant: b.tenant, RecordID: "shared", After: after, Limit: 60, Segments: true})
		if len(pb.Sessions) != 0 || pb.More {
			t.Errorf("tenant b after tenant a's cursor %d: got %d sessions, More %v; want an empty last page", after, len(pb.Sessions), pb.More)
		}
		pb = list(t, st, callvault.SessionQuery{Tenant: b.tenant, RecordID: "shared", After: 2, Limit: 60, Segments: true})
		checkPage(t, pb, rb.Sessions[2:], 2, true)
	})

	t.Run("every other query keeps to its tenant", s.testTenantQueries)
}

func (s *suite) testVersions(t *testing.T) {
	for _, tt := range []struct {
		name          string
		first, second recordSpec
		want          callvault.PutOutcome
	}{
		{
			name:   "a higher version with fewer sessions replaces the record whole",
			first:  recordSpec{version: 5, sessions: 10, segments: func(seq int) int { return seq % 4 }},
			second: recordSpec{version: 6, sessions: 3, segments: one},
			want:   callvault.Replaced,
		},
		{
			name:   "a higher version with more sessions replaces the record whole",
			first:  recordSpec{version: 1, sessions: 3, segments: func(int) int { return 3 }},
			second: recordSpec{version: 2, sessions: 12, segments: func(seq int) int { return seq % 2 }},
			want:   callvault.Replaced,
		},
		{
			name:   "a higher version with no sessions leaves none",
			first:  recordSpec{version: 1, sessions: 6, segments: one},
			second: recordSpec{version: 2},
			want:   callvault.Replaced,
		},
		{
			name:   "an equal version replaces the record whole",
			first:  recordSpec{version: 7, sessions: 8, segments: one},
			second: recordSpec{version: 7, sessions: 4, segments: func(int) int { return 2 }, pad: 40},
			want:   callvault.Replaced,
		},
		{
			name:   "a lower version is stale and leaves the record intact",
			first:  recordSpec{version: 7, sessions: 8, segments: one},
			second: recordSpec{version: 6, sessions: 2, segments: func(int) int { return 2 }},
			want:   callvault.Stale,
		},
		{
			name:   "a negative version is stale against version zero",
			first:  recordSpec{version: 0, sessions: 2, segments: one},
			second: recordSpec{version: -1, sessions: 1},
			want:   callvault.Stale,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := s.store(t)
			a := tenant(t, "a")
			tt.first.tenant, tt.first.id = a, "versioned"
			tt.second.tenant, tt.second.id = a, "versioned"
			tt.second.salt = "second"
			first, second := tt.first.record(), tt.second.record()
			// The second record's header differs too, to see that it is replaced.
			second.StartDateTime = first.StartDateTime.Add(time.Hour)
			second.Organizer = nil

			if outcome := put(t, st, first); outcome != callvault.Inserted {
				t.Fatalf("first put: got %v, want %v", outcome, callvault.Inserted)
			}
			if outcome := put(t, st, second); outcome != tt.want {
				t.Fatalf("second put: got %v, want %v", outcome, tt.want)
			}
			kept := first
			if tt.want == callvault.Replaced {
				kept = second
			}

			page := list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "versioned", Limit: 1000, Segments: true})
			if page.More {
				t.Error("More is true on the only page")
			}
			checkPage(t, page, kept.Sessions, 0, true)
			// A cursor into the sessions of the replaced record finds none.
			for _, after := range []int64{int64(len(kept.Sessions)), int64(len(kept.Sessions)) + 1} {
				page := list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "versioned", After: after, Limit: 100, Segments: true})
				if len(page.Sessions) != 0 || page.More {
					t.Errorf("after %d: got %d sessions, More %v; want an empty last page", after, len(page.Sessions), page.More)
				}
			}
			checkHeader(t, get(t, st, a, "versioned"), kept)
		})
	}
}

func (s *suite) testInvalid(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	put(t, st, recordSpec{tenant: a, id: "r", version: 1, sessions: 3}.record())

	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"a nil record", func() error { _, err := st.PutRecord(ctx, nil); return err }},
		{"a record without a tenant", func() error {
			_, err := st.PutRecord(ctx, &callvault.Record{ID: "r", Version: 2, Body: []byte(`{}`)})
			return err
		}},
		{"a record without an id", func() error {
			_, err := st.PutRecord(ctx, &callvault.Record{Tenant: a, Version: 2, Body: []byte(`{}`)})
			return err
		}},
		{"a get without a tenant", func() error { _, err := st.GetRecord(ctx, "", "r"); return err }},
		{"a get without an id", func() error { _, err := st.GetRecord(ctx, a, ""); return err }},
		{"a list without a tenant", func() error {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{RecordID: "r", Limit: 10})
			return err
		}},
		{"a list without a record id", func() error {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: a, Limit: 10})
			return err
		}},
		{"a list with a limit of zero", func() error {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: a, RecordID: "r"})
			return err
		}},
		{"a list with a negative limit", func() error {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: a, RecordID: "r", Limit: -1})
			return err
		}},
		{"a list with a negative cursor", func() error {
			_, err := st.ListSessions(ctx, callvault.SessionQuery{Tenant: a, RecordID: "r", After: -1, Limit: 10})
			return err
		}},
	} {
		wantCode(t, tt.call(), callvault.EINVALID, "%s", tt.name)
	}
	// Nothing invalid was written over the record.
	if h := get(t, st, a, "r"); h.Version != 1 || h.Sessions != 3 {
		t.Errorf("after the invalid calls: version %d with %d sessions, want 1 with 3", h.Version, h.Sessions)
	}
}

func (s *suite) testHeader(t *testing.T) {
	// Graph's DateTimeOffset has 100 ns ticks; the store keeps them all.
	start := time.Date(2024, 3, 1, 9, 30, 15, 216988900, time.FixedZone("CET", 3600))
	for _, tt := range []struct {
		name  string
		start time.Time
	}{
		{"with a start time to the tick", start},
		{"with a start time in UTC", start.UTC()},
		{"with a start time before 1970", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
		{"without a start time", time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := s.store(t)
			r := recordSpec{tenant: tenant(t, "a"), id: "header", version: 42, sessions: 17, segments: one}.record()
			r.StartDateTime, r.EndDateTime = tt.start, time.Time{}
			if !tt.start.IsZero() {
				r.EndDateTime = tt.start.Add(90 * time.Minute)
			}
			put(t, st, r)
			checkHeader(t, get(t, st, r.Tenant, r.ID), r)
		})
	}
}

func (s *suite) testLargeRecord(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{
		tenant:   tenant(t, "a"),
		id:       "large",
		version:  1,
		sessions: 3000,
		segments: func(int) int { return 2 },
		pad:      2000,
	}
	r := spec.record()
	r.Participants = make([]callvault.Participant, 1000)
	for i := range r.Participants {
		id := fmt.Sprintf("participant-%05d", i+1)
		r.Participants[i] = callvault.Participant{ID: id, Body: fmt.Appendf(nil, `{"id":%q}`, id)}
	}
	if outcome := put(t, st, r); outcome != callvault.Inserted {
		t.Fatalf("put: got %v, want %v", outcome, callvault.Inserted)
	}
	if h := get(t, st, spec.tenant, spec.id); h.Sessions != 3000 {
		t.Errorf("header counts %d sessions, want 3000", h.Sessions)
	}

	// A page deep in the record is the same as the first in every respect.
	for _, after := range []int64{0, 1500, 2940} {
		page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, After: after, Limit: 60, Segments: true})
		checkPage(t, page, r.Sessions[after:after+60], after, true)
		if page.More != (after+60 < 3000) {
			t.Errorf("after %d: More is %v", after, page.More)
		}
	}

	// The whole record, in large pages.
	var after int64
	n := 0
	for {
		page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, After: after, Limit: 999, Segments: true})
		checkPage(t, page, r.Sessions[after:min(after+999, 3000)], after, true)
		if t.Failed() {
			t.FailNow()
		}
		n += len(page.Sessions)
		if !page.More {
			break
		}
		after = page.Sessions[len(page.Sessions)-1].Seq
	}
	if n != 3000 {
		t.Errorf("walked %d sessions, want 3000", n)
	}
}

func (s *suite) testConcurrency(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	// The record's shape changes with each version, so that a page mixing
	// two versions shows.
	spec := func(id string, version int64) recordSpec {
		return recordSpec{
			tenant:   a,
			id:       id,
			version:  version,
			sessions: 20 + int(version%5)*10,
			segments: func(seq int) int { return (seq + int(version)) % 3 },
		}
	}
	ids := []string{"busy-1", "busy-2"}
	for _, id := range ids {
		put(t, st, spec(id, 0).record())
	}

	const versions = 30
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	// Two writers per record put interleaved versions, so some of their puts
	// are stale; the highest version must win.
	for _, id := range ids {
		for w := range int64(2) {
			writers.Go(func() {
				for v := 1 + w; v <= versions; v += 2 {
					if _, err := st.PutRecord(ctx, spec(id, v).record()); err != nil {
						t.Errorf("put %s version %d: %v", id, v, err)
						return
					}
				}
			})
		}
	}
	for i := range 4 {
		id := ids[i%len(ids)]
		readers.Go(func() {
			for walks := 0; ; walks++ {
				select {
				case <-done:
					if walks > 0 {
						return
					}
				default:
				}
				if !walkConsistently(t, st, a, id, 7, func(v int64) recordSpec { return spec(id, v) }) {
					return
				}
				if !getConsistently(t, st, a, id, func(v int64) recordSpec { return spec(id, v) }) {
					return
				}
				if _, err := st.GetRecord(ctx, a, id); err != nil {
					t.Errorf("get %s: %v", id, err)
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()

	for _, id := range ids {
		want := spec(id, versions).record()
		checkHeader(t, get(t, st, a, id), want)
		checkPage(t, list(t, st, callvault.SessionQuery{Tenant: a, RecordID: id, Limit: 1000, Segments: true}), want.Sessions, 0, true)
	}
}

// walkConsistently walks the sessions of a record that is being replaced,
// checking that each page is wholly of one version. It reports whether it
// found no fault.
func walkConsistently(t *testing.T, st callvault.Store, tenant, id string, limit int, spec func(version int64) recordSpec) bool {
	var after int64
	for {
		page, err := st.ListSessions(t.Context(), callvault.SessionQuery{Tenant: tenant, RecordID: id, After: after, Limit: limit, Segments: true})
		if err != nil {
			t.Errorf("list %s after %d: %v", id, after, err)
			return false
		}
		if len(page.Sessions) == 0 {
			if page.More {
				t.Errorf("list %s after %d: an empty page says More", id, after)
				return false
			}
			return true
		}
		var body struct{ Version int64 }
		if err := json.Unmarshal(page.Sessions[0].Body, &body); err != nil {
			t.Errorf("list %s after %d: session body %s: %v", id, after, page.Sessions[0].Body, err)
			return false
		}
		want := spec(body.Version).record().Sessions
		last := page.Sessions[len(page.Sessions)-1].Seq
		if int(last) > len(want) || page.More != (int(last) < len(want)) {
			t.Errorf("list %s after %d: page ends at %d with More %v, but version %d has %d sessions",
				id, after, last, page.More, body.Version, len(want))
			return false
		}
		first := page.Sessions[0].Seq - 1
		if !checkPage(t, page, want[first:last], first, true) {
			t.Errorf("list %s after %d: the page is not all of version %d", id, after, body.Version)
			return false
		}
		if !page.More {
			return true
		}
		after = last
	}
}

// getConsistently gets the first session of a record that is being
// replaced, with its segments, and checks that they are of one version. It
// reports whether it found no fault.
func getConsistently(t *testing.T, st callvault.Store, tenant, id string, spec func(version int64) recordSpec) bool {
	row, err := st.GetSession(t.Context(), tenant, id, "session-1-", true)
	if err != nil {
		t.Errorf("get session 1 of %s: %v", id, err)
		return false
	}
	var body struct{ Version int64 }
	if err := json.Unmarshal(row.Body, &body); err != nil {
		t.Errorf("get session 1 of %s: session body %s: %v", id, row.Body, err)
		return false
	}
	want := spec(body.Version).record().Sessions[:1]
	if !checkPage(t, &callvault.SessionPage{Sessions: []callvault.SessionRow{*row}}, want, 0, true) {
		t.Errorf("get session 1 of %s: the session and its segments are not all of version %d", id, body.Version)
		return false
	}
	return true
}

// recordSpec describes a synthetic record whose every body is unique and
// says where it belongs.
type recordSpec struct {
	tenant, id string
	version    int64
	sessions   int
	segments   func(seq int) int // how many segments session seq has; nil for none
	pad        int               // bytes of padding in each session and segment body
	salt       string            // tells apart two records of the same tenant, id and version
}

func one(int) int { return 1 }

func (s recordSpec) record() *callvault.Record {
	start := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC).Add(time.Duration(s.version) * time.Second)
	r := &callvault.Record{
		Tenant:        s.tenant,
		ID:            s.id,
		Version:       s.version,
		StartDateTime: start,
		EndDateTime:   start.Add(time.Hour),
		Body:          s.body("callRecord", 0, 0, 0),
		Organizer:     s.body("organizer", 0, 0, 0),
		Sessions:      make([]callvault.Session, s.sessions),
	}
	for i := range r.Sessions {
		seq := i + 1
		ses := &r.Sessions[i]
		ses.ID = fmt.Sprintf("session-%d-%s", seq, s.salt)
		ses.Body = s.body("session", seq, 0, s.pad)
		if s.segments != nil {
			ses.Segments = make([]callvault.Segment, s.segments(seq))
			for j := range ses.Segments {
				ses.Segments[j] = callvault.Segment{
					ID:   fmt.Sprintf("segment-%d-%d-%s", seq, j+1, s.salt),
					Body: s.body("segment", seq, j+1, s.pad),
				}
			}
		}
	}
	r.Participants = []callvault.Participant{{ID: "p1", Body: s.body("participant", 1, 0, 0)}}
	return r
}

// body returns a JSON object as package ingest might write it: keys not in
// alphabetical order, odd spacing and characters outside ASCII, so that a
// store that normalises JSON (a jsonb column, say) fails the byte-for-byte
// comparisons.
func (s recordSpec) body(kind string, seq, segment, pad int) []byte {
	return fmt.Appendf(nil, `{"version":%d, "kind":%q,"tenant":%q,"record":%q,"salt":%q,"at":[%d,%d],"name":"Zoë ☎ \u00e9\u2028","pad":"%s"}`,
		s.version, kind, s.tenant, s.id, s.salt, seq, segment, strings.Repeat("x", pad))
}

func put(t *testing.T, st callvault.Store, r *callvault.Record) callvault.PutOutcome {
	t.Helper()
	outcome, err := st.PutRecord(t.Context(), r)
	if err != nil {
		t.Fatalf("put record %s of tenant %s version %d: %v", r.ID, r.Tenant, r.Version, err)
	}
	return outcome
}

func get(t *testing.T, st callvault.Store, tenant, id string) *callvault.RecordHeader {
	t.Helper()
	h, err := st.GetRecord(t.Context(), tenant, id)
	if err != nil {
		t.Fatalf("get record %s of tenant %s: %v", id, tenant, err)
	}
	return h
}

func list(t *testing.T, st callvault.Store, q callvault.SessionQuery) *callvault.SessionPage {
	t.Helper()
	page, err := st.ListSessions(t.Context(), q)
	if err != nil {
		t.Fatalf("list sessions %+v: %v", q, err)
	}
	return page
}

// checkPage compares the sessions of page with want, which begin after the
// session at after, and their segments when withSegments is set (else the
// page must have none). It reports whether they are equal.
func checkPage(t *testing.T, page *callvault.SessionPage, want []callvault.Session, after int64, withSegments bool) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}
	if len(page.Sessions) != len(want) {
		fail("got %d sessions, want %d", len(page.Sessions), len(want))
		return false
	}
	for i, got := range page.Sessions {
		w := want[i]
		if seq := after + int64(i) + 1; got.Seq != seq {
			fail("session %d: got seq %d, want %d", seq, got.Seq, seq)
		}
		if got.ID != w.ID || !bytes.Equal(got.Body, w.Body) {
			fail("session %d: got %s %s, want %s %s", got.Seq, got.ID, got.Body, w.ID, w.Body)
		}
		if !withSegments {
			if len(got.Segments) != 0 {
				fail("session %d: got %d segments, want none as none were asked for", got.Seq, len(got.Segments))
			}
			continue
		}
		if len(got.Segments) != len(w.Segments) {
			fail("session %d: got %d segments, want %d", got.Seq, len(got.Segments), len(w.Segments))
			continue
		}
		for j, g := range got.Segments {
			if g.ID != w.Segments[j].ID || !bytes.Equal(g.Body, w.Segments[j].Body) {
				fail("session %d segment %d: got %s %s, want %s %s", got.Seq, j+1, g.ID, g.Body, w.Segments[j].ID, w.Segments[j].Body)
			}
		}
	}
	return ok
}

// checkHeader compares a header with the record it is of, and reports
// whether they agree.
func checkHeader(t *testing.T, got *callvault.RecordHeader, want *callvault.Record) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}
	if got.ID != want.ID || got.Version != want.Version || got.Sessions != len(want.Sessions) || got.Participants != len(want.Participants) {
		fail("header: got id %s version %d with %d sessions and %d participants, want %s version %d with %d and %d",
			got.ID, got.Version, got.Sessions, got.Participants, want.ID, want.Version, len(want.Sessions), len(want.Participants))
	}
	if !got.StartDateTime.Equal(want.StartDateTime) || !got.EndDateTime.Equal(want.EndDateTime) {
		fail("header %s: got start %v and end %v, want %v and %v", want.ID, got.StartDateTime, got.EndDateTime, want.StartDateTime, want.EndDateTime)
	}
	if !bytes.Equal(got.Body, want.Body) {
		fail("header %s body: got %s, want %s", want.ID, got.Body, want.Body)
	}
	if !bytes.Equal(got.Organizer, want.Organizer) || (got.Organizer == nil) != (want.Organizer == nil) {
		fail("header %s organizer: got %q, want %q", want.ID, got.Organizer, want.Organizer)
	}
	return ok
}

func wantCode(t *testing.T, err error, code string, format string, args ...any) {
	t.Helper()
	if got := callvault.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", fmt.Sprintf(format, args...), err, got, code)
	}
}
