package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/callvault/callvault"
)

// testRender holds ListSessions to the render scripts each session and
// segment was put with (callvault.Session.Render): the handler serves a
// page by them instead of its bodies, so a script of another row, of an
// older version of the record, or of a row that has none, is a wrong
// response.
func (s *suite) testRender(t *testing.T) {
	st := s.store(t)
	a, b := tenant(t, "a"), tenant(t, "b")
	spec := recordSpec{tenant: a, id: "render", version: 1, sessions: 13, segments: func(seq int) int { return []int{0, 1, 3}[seq%3] }}
	put1 := withRender(spec.record(), "v1")
	put(t, st, put1)
	// Another tenant's record of the same id, and a neighbour in the same
	// tenant, whose scripts must not leak into the record's pages.
	put(t, st, withRender(recordSpec{tenant: b, id: "render", version: 1, sessions: 13, salt: "b", segments: one}.record(), "b"))
	put(t, st, withRender(recordSpec{tenant: a, id: "neighbour", version: 1, sessions: 3, salt: "n", segments: one}.record(), "n"))
	// A store keeps none of the caller's memory: the scripts put are
	// overwritten now, and r is a copy of them.
	for _, ses := range put1.Sessions {
		clear(ses.Render)
		for _, g := range ses.Segments {
			clear(g.Render)
		}
	}
	r := withRender(spec.record(), "v1")
	t.Run("a page with segments", func(t *testing.T) {
		page := list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "render", Limit: 100, Segments: true})
		checkRender(t, page, r.Sessions, 0, true)
	})
	t.Run("a page without segments", func(t *testing.T) {
		page := list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "render", Limit: 100})
		checkRender(t, page, r.Sessions, 0, false)
	})
	t.Run("pages of 4 and of 1, into an arena reused from page to page", func(t *testing.T) {
		for _, limit := range []int{4, 1} {
			var arena []byte
			for after := 0; ; after += limit {
				// Half the pages into an arena that already holds bytes of the
				// caller's, which the store must leave as they are.
				q := callvault.SessionQuery{Tenant: a, RecordID: "render", After: int64(after), Limit: limit, Segments: true}
				if after%(2*limit) == 0 {
					q.Arena = append(arena[:0], "caller's"...)
				}
				page := list(t, st, q)
				end := min(after+limit, len(r.Sessions))
				if !checkRender(t, page, r.Sessions[after:end], int64(after), true) {
					return
				}
				if q.Arena != nil && page.Arena != nil && !bytes.HasPrefix(page.Arena, []byte("caller's")) {
					t.Fatalf("page after %d: the store wrote over the arena's first bytes: %q", after, page.Arena[:8])
				}
				if page.Arena != nil {
					arena = page.Arena
				}
				if !page.More {
					if end != len(r.Sessions) {
						t.Fatalf("page after %d of %d: More is false", after, limit)
					}
					break
				}
			}
		}
	})
	t.Run("a replacement's scripts, or none, replace the old ones", func(t *testing.T) {
		// Version 2 has no scripts at all: none is read, not version 1's.
		spec := spec
		spec.version = 2
		v2 := spec.record()
		put(t, st, v2)
		checkRender(t, list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "render", Limit: 100, Segments: true}), v2.Sessions, 0, true)
		spec.version = 3
		v3 := withRender(spec.record(), "v3")
		put(t, st, v3)
		checkRender(t, list(t, st, callvault.SessionQuery{Tenant: a, RecordID: "render", Limit: 100, Segments: true}), v3.Sessions, 0, true)
	})
}

// withRender gives the sessions and segments of r render scripts, or none,
// or empty ones, by their positions, and returns r. The scripts are binary,
// not UTF-8 and with NULs, as a store must keep them byte for byte.
func withRender(r *callvault.Record, note string) *callvault.Record {
	script := func(seq, segment int) []byte {
		switch (seq + segment) % 4 {
		case 0:
			return nil
		case 1:
			return []byte{} // none, as nil is
		}
		return fmt.Appendf(nil, "\x00\xff script %s %s %d %d \x01\xfe", note, r.ID, seq, segment)
	}
	for i := range r.Sessions {
		ses := &r.Sessions[i]
		ses.Render = script(i+1, 0)
		for j := range ses.Segments {
			ses.Segments[j].Render = script(i+1, j+1)
		}
	}
	return r
}

// checkRender compares a page's sessions, and segments when withSegments is
// set, with want, which begin after the session at after: ids, bodies and
// render scripts (none is read as nil or empty, whichever the record had).
func checkRender(t *testing.T, page *callvault.SessionPage, want []callvault.Session, after int64, withSegments bool) bool {
	t.Helper()
	if !checkPage(t, page, want, after, withSegments) {
		return false
	}
	ok := true
	for i, got := range page.Sessions {
		if !bytes.Equal(got.Render, want[i].Render) {
			t.Errorf("session %d: got render scripts %q, want %q", got.Seq, got.Render, want[i].Render)
			ok = false
		}
		for j, g := range got.Segments {
			if w := want[i].Segments[j].Render; !bytes.Equal(g.Render, w) {
				t.Errorf("session %d segment %d: got render scripts %q, want %q", got.Seq, j+1, g.Render, w)
				ok = false
			}
		}
	}
	return ok
}
