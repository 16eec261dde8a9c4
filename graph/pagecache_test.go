package graph_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
)

// pageReads records what the sessions handler asked of the store: the stamp
// each read held (SessionQuery.Known) and how many sessions came back.
type pageReads struct {
	mu       sync.Mutex
	known    []int64
	sessions []int
}

func (p *pageReads) note(known int64, sessions int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.known, p.sessions = append(p.known, known), append(p.sessions, sessions)
}

// last returns the last read's held stamp and sessions.
func (p *pageReads) last() (int64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[len(p.known)-1], p.sessions[len(p.sessions)-1]
}

// listedReads is a store without VisitSessions (a store of another package,
// or one wrapped): pages come from ListSessions.
type listedReads struct {
	callvault.Store
	reads *pageReads
}

func (s listedReads) ListSessions(ctx context.Context, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	page, err := s.Store.ListSessions(ctx, q)
	if page != nil {
		s.reads.note(q.Known, len(page.Sessions))
	}
	return page, err
}

// visitedReads reads pages with VisitSessions, as SQLite does.
type visitedReads struct {
	callvault.Store
	reads *pageReads
}

func (s visitedReads) VisitSessions(ctx context.Context, q callvault.SessionQuery, v callvault.SessionVisitor) (bool, error) {
	cv := &countingVisitor{SessionVisitor: v}
	more, err := s.Store.(callvault.SessionPageVisitor).VisitSessions(ctx, q, cv)
	s.reads.note(q.Known, cv.n)
	return more, err
}

type countingVisitor struct {
	callvault.SessionVisitor
	n int
}

func (v *countingVisitor) Session(seq int64, body, render []byte) error {
	v.n++
	return v.SessionVisitor.Session(seq, body, render)
}

// manySessions is a record of n sessions, each with a segment, whose first page
// with segments is over the size the server compresses once and keeps.
func manySessions(id string, version, n int, tag string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"version":%d,"startDateTime":"2024-05-02T09:00:00Z","endDateTime":"2024-05-02T10:00:00Z","sessions":[`, id, version)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s-session-%03d","modalities":["audio"],"segments":[{"id":"%s-segment-%03d","media":[{"label":"main-audio",`+
			`"callerDevice":{"captureDeviceName":"Microphone Array (Realtek High Definition Audio) %03d","renderDeviceName":"Speakers (Realtek High Definition Audio) %03d"}}]}]}`,
			tag, i, tag, i, i, i)
	}
	b.WriteString("]}")
	return b.String()
}

// TestCompressedPagesStandUntilTheRecordChanges asks for the same large page
// with gzip again and again: the second answer is the first's bytes, read
// from the server's memory after the store said by the record's stamp that
// it stands (no session read); once the record is written again, the page
// is read and rendered anew, and equals the plain answer to the same
// request each time.
func TestCompressedPagesStandUntilTheRecordChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(callvault.Store, *pageReads) callvault.Store
	}{
		{"VisitSessions", func(s callvault.Store, r *pageReads) callvault.Store { return visitedReads{s, r} }},
		{"ListSessions", func(s callvault.Store, r *pageReads) callvault.Store { return listedReads{s, r} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := &pageReads{}
			f := newFixture(t, func(s callvault.Store) callvault.Store { return tc.wrap(s, reads) })
			const id = "0a1b2c3d-0000-4000-8000-0000000000bb"
			put := func(version int, tag string) {
				t.Helper()
				im := &ingest.Importer{Store: f.db, Tenant: tenantA, OnReject: func(r ingest.Rejection) { t.Errorf("rejected: %v", r) }}
				var stats ingest.Stats
				if err := im.Import(t.Context(), "big", strings.NewReader(manySessions(id, version, 90, tag)), &stats); err != nil {
					t.Fatal(err)
				}
			}
			put(1, "first")
			path := sessionsPath("v1.0", id) + "?$expand=segments"

			// fetch returns the wire bytes, and the plain body they hold.
			fetch := func(headers map[string]string) (wire, plain []byte) {
				t.Helper()
				resp := f.do(t, http.MethodGet, path, headers)
				defer resp.Body.Close()
				wire, err := io.ReadAll(resp.Body)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
				}
				if resp.Header.Get("Content-Encoding") != "gzip" {
					return wire, wire
				}
				if resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("headers %v", resp.Header)
				}
				zr, err := gzip.NewReader(bytes.NewReader(wire))
				if err != nil {
					t.Fatal(err)
				}
				if plain, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				return wire, plain
			}
			gz := map[string]string{"Accept-Encoding": "gzip"}

			wire1, plain1 := fetch(gz)
			if _, plain := fetch(nil); !bytes.Equal(plain1, plain) {
				t.Fatalf("the compressed page differs from the plain one:\n%.300s\n%.300s", plain1, plain)
			}
			if len(plain1) < 32<<10 || !bytes.Contains(plain1, []byte("first-session-059")) {
				t.Fatalf("the page is %d bytes: %.200s", len(plain1), plain1)
			}
			if known, _ := reads.last(); known != 0 {
				t.Errorf("a plain request held stamp %d", known)
			}

			wire2, _ := fetch(gz)
			if !bytes.Equal(wire1, wire2) {
				t.Error("the page asked again is not the same bytes")
			}
			if known, sessions := reads.last(); known == 0 || sessions != 0 {
				t.Errorf("the page asked again: the read held stamp %d and read %d sessions; want a stamp held and none read", known, sessions)
			}

			// A page of another size is another entry.
			if _, plain := fetch(map[string]string{"Accept-Encoding": "gzip", "Prefer": "odata.maxpagesize=40"}); !bytes.Contains(plain, []byte("first-session-039")) || bytes.Contains(plain, []byte("first-session-040")) {
				t.Errorf("a page of 40: %.200s", plain)
			}
			if _, plain := fetch(gz); !bytes.Equal(plain, plain1) {
				t.Error("the page of 60 asked after the page of 40 is not the same")
			}

			// The record is written again (the same version replaces it).
			put(1, "second")
			wire3, plain3 := fetch(gz)
			if bytes.Equal(wire3, wire1) || !bytes.Contains(plain3, []byte("second-session-059")) || bytes.Contains(plain3, []byte("first-session")) {
				t.Fatalf("after the record was written again, the page is the old one: %.300s", plain3)
			}
			if known, sessions := reads.last(); known == 0 || sessions != 60 {
				t.Errorf("after a write: the read held stamp %d and read %d sessions; want the old stamp held and 60 read", known, sessions)
			}
			if _, plain := fetch(nil); !bytes.Equal(plain3, plain) {
				t.Error("after a write, the compressed page differs from the plain one")
			}
			if wire4, _ := fetch(gz); !bytes.Equal(wire4, wire3) {
				t.Error("the new page asked again is not the same bytes")
			}

			// Two pages kept (60 and 40), the first asked again from memory
			// twice (the second time and after the page of 40), and once
			// after the write, when the record had been written since.
			c := &f.srv.PageCache
			if hits, stale, kept := c.Hits.Load(), c.Stale.Load(), c.Kept.Load(); hits != 3 || stale != 1 || kept != 3 {
				t.Errorf("counters: %d hits, %d stale, %d kept; want 3, 1, 3", hits, stale, kept)
			}
			// Two entries now: the page of 60 as written again, and the page of 40.
			if n := f.srv.PageCacheBytes(); n <= int64(len(wire3)) || n >= int64(2*len(wire3)) {
				t.Errorf("the kept pages hold %d bytes; the page of 60 is %d", n, len(wire3))
			}

			// Another tenant's record of the same id is its own: tenant B has
			// none, and a page held for tenant A must not answer for it.
			resp := f.do(t, http.MethodGet, path, map[string]string{"Accept-Encoding": "gzip",
				"Authorization": "Bearer " + f.token(t, auth.TokenOptions{Tenant: tenantB})})
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("tenant B asked for tenant A's page: %d, want 404", resp.StatusCode)
			}
		})
	}
}

// TestNoPagesKeptWithoutAPageCache: with PageCacheLimit negative (serve
// --page-cache 0), a page asked again is read and compressed again.
func TestNoPagesKeptWithoutAPageCache(t *testing.T) {
	reads := &pageReads{}
	f := newFixtureWith(t, func(s callvault.Store) callvault.Store { return visitedReads{s, reads} }, 0,
		func(s *graph.Server) { s.PageCacheLimit = -1 })
	const id = "0a1b2c3d-0000-4000-8000-0000000000bc"
	im := &ingest.Importer{Store: f.db, Tenant: tenantA, OnReject: func(r ingest.Rejection) { t.Errorf("rejected: %v", r) }}
	var stats ingest.Stats
	if err := im.Import(t.Context(), "big", strings.NewReader(manySessions(id, 1, 90, "only")), &stats); err != nil {
		t.Fatal(err)
	}
	var wires [][]byte
	for range 2 {
		resp := f.do(t, http.MethodGet, sessionsPath("v1.0", id)+"?$expand=segments", map[string]string{"Accept-Encoding": "gzip"})
		wire, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, err)
		}
		wires = append(wires, wire)
		if known, sessions := reads.last(); known != 0 || sessions != 60 {
			t.Errorf("the read held stamp %d and read %d sessions; want none held and 60 read", known, sessions)
		}
	}
	if !bytes.Equal(wires[0], wires[1]) {
		t.Error("the same page compressed twice differs")
	}
	if c := &f.srv.PageCache; c.Hits.Load()+c.Stale.Load()+c.Kept.Load() != 0 || f.srv.PageCacheBytes() != 0 {
		t.Errorf("counters %d %d %d, %d bytes: want nothing kept", c.Hits.Load(), c.Stale.Load(), c.Kept.Load(), f.srv.PageCacheBytes())
	}
}
