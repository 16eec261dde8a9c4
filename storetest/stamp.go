package storetest

import (
	"testing"

	"github.com/callvault/callvault"
)

// testStamps checks SessionPage.Stamp and SessionQuery.Known: every write
// of a record gives it a stamp no write gave before, a read with the
// stamp the caller holds reads nothing and says Unchanged, and a stale put,
// which writes nothing, keeps the stamp.
func (s *suite) testStamps(t *testing.T) {
	st := s.store(t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "stamped", version: 2, sessions: 4, segments: one}
	put(t, st, spec.record())
	q := callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, Limit: 10, Segments: true}
	first := list(t, st, q)
	if first.Stamp == 0 || first.Unchanged {
		t.Fatalf("a record just put has stamp %d (unchanged %v): want a stamp other than 0", first.Stamp, first.Unchanged)
	}

	held := q
	held.Known = first.Stamp
	if page := list(t, st, held); !page.Unchanged || page.Stamp != first.Stamp || len(page.Sessions) != 0 || page.More {
		t.Errorf("a read with the stamp held: %+v, want Unchanged at %d and no sessions", page, first.Stamp)
	}
	if page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, Limit: 2, Known: first.Stamp}); !page.Unchanged {
		t.Errorf("another page of the same record, with its stamp held: %+v, want Unchanged", page)
	}

	// A stale put writes nothing: the stamp stays.
	stale := spec
	stale.version, stale.sessions = 1, 1
	if outcome := put(t, st, stale.record()); outcome != callvault.Stale {
		t.Fatalf("a lower version: %v, want Stale", outcome)
	}
	if page := list(t, st, held); !page.Unchanged {
		t.Errorf("after a stale put the stamp changed: %+v", page)
	}

	// An equal version replaces the record, and its stamp.
	again := spec
	again.sessions = 2
	put(t, st, again.record())
	page := list(t, st, held)
	if page.Unchanged || page.Stamp == first.Stamp || page.Stamp == 0 {
		t.Fatalf("after a replacing put: stamp %d (unchanged %v), the held one %d: want a new stamp", page.Stamp, page.Unchanged, first.Stamp)
	}
	checkPage(t, page, again.record().Sessions, 0, true)

	// Another record's stamp is its own.
	other := recordSpec{tenant: spec.tenant, id: "stamped-too", version: 1, sessions: 1, segments: one}
	put(t, st, other.record())
	if o := list(t, st, callvault.SessionQuery{Tenant: other.tenant, RecordID: other.id, Limit: 1}); o.Stamp == 0 || o.Stamp == page.Stamp || o.Stamp == first.Stamp {
		t.Errorf("another record's stamp %d, this one's %d then %d: want a stamp no write gave before", o.Stamp, first.Stamp, page.Stamp)
	}

	// What is held does not hide that a record is gone, nor cross a wall.
	for _, q := range []callvault.SessionQuery{
		{Tenant: spec.tenant, RecordID: "absent", Limit: 1, Known: page.Stamp},
		{Tenant: tenant(t, "b"), RecordID: spec.id, Limit: 1, Known: page.Stamp},
	} {
		if _, err := st.ListSessions(t.Context(), q); callvault.ErrorCode(err) != callvault.ENOTFOUND {
			t.Errorf("%s of tenant %s with a stamp held: %v, want ENOTFOUND", q.RecordID, q.Tenant, err)
		}
	}

	// A visit says the same.
	if vs, ok := st.(callvault.SessionPageVisitor); ok {
		held.Known = page.Stamp
		v := &visited{}
		more, err := vs.VisitSessions(t.Context(), held, v)
		if err != nil || more || v.page.Stamp != page.Stamp || len(v.page.Sessions) != 0 {
			t.Errorf("a visit with the stamp held: stamp %d, %d sessions, more %v, %v; want stamp %d and nothing else",
				v.page.Stamp, len(v.page.Sessions), more, err, page.Stamp)
		}
		held.Known = first.Stamp
		v = &visited{}
		if _, err := vs.VisitSessions(t.Context(), held, v); err != nil || v.page.Stamp != page.Stamp || len(v.page.Sessions) != again.sessions {
			t.Errorf("a visit with an old stamp held: stamp %d, %d sessions, %v; want stamp %d and %d sessions",
				v.page.Stamp, len(v.page.Sessions), err, page.Stamp, again.sessions)
		}
	}
}
