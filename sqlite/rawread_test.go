package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/callvault/callvault"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// listSessionsSQL is ListSessions as it read before rawread.go, through
// database/sql in one read transaction: the reference the raw read must
// match. It scans into []byte, which database/sql copies.
func listSessionsSQL(ctx context.Context, db *DB, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, sqlSelectSessions, q.Tenant, q.RecordID, q.After, pageFetch(q.Limit))
	if err != nil {
		return nil, err
	}
	page := &callvault.SessionPage{}
	for rows.Next() {
		var s callvault.SessionRow
		if err := rows.Scan(&s.Seq, &s.ID, &s.Body, &s.Render); err != nil {
			return nil, err
		}
		page.Sessions = append(page.Sessions, s)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Sessions) > q.Limit {
		page.Sessions, page.More = page.Sessions[:q.Limit], true
	}
	if len(page.Sessions) == 0 {
		return page, checkRecord(ctx, tx, &db.stmts, q.Tenant, q.RecordID)
	}
	if !q.Segments {
		return page, nil
	}
	first, last := page.Sessions[0].Seq, page.Sessions[len(page.Sessions)-1].Seq
	if rows, err = tx.QueryContext(ctx, sqlSelectSegments, q.Tenant, q.RecordID, first, last); err != nil {
		return nil, err
	}
	for rows.Next() {
		var seq int64
		var g callvault.Segment
		if err := rows.Scan(&seq, &g.ID, &g.Body, &g.Render); err != nil {
			return nil, err
		}
		s := &page.Sessions[seq-first]
		s.Segments = append(s.Segments, g)
	}
	return page, rows.Err()
}

// samePage reports how got differs from want: ids, seqs, bodies, render
// scripts (nil and present alike), segments and More.
func samePage(got, want *callvault.SessionPage) error {
	if got.More != want.More {
		return fmt.Errorf("More %v, want %v", got.More, want.More)
	}
	if len(got.Sessions) != len(want.Sessions) {
		return fmt.Errorf("%d sessions, want %d", len(got.Sessions), len(want.Sessions))
	}
	for i, g := range got.Sessions {
		w := want.Sessions[i]
		if g.Seq != w.Seq || g.ID != w.ID {
			return fmt.Errorf("session %d: seq %d id %q, want %d %q", i, g.Seq, g.ID, w.Seq, w.ID)
		}
		if err := sameBlobs("body", g.Body, w.Body, "render", g.Render, w.Render); err != nil {
			return fmt.Errorf("session %d: %w", g.Seq, err)
		}
		if len(g.Segments) != len(w.Segments) {
			return fmt.Errorf("session %d: %d segments, want %d", g.Seq, len(g.Segments), len(w.Segments))
		}
		for j, gs := range g.Segments {
			ws := w.Segments[j]
			if gs.ID != ws.ID {
				return fmt.Errorf("session %d segment %d: id %q, want %q", g.Seq, j, gs.ID, ws.ID)
			}
			if err := sameBlobs("body", gs.Body, ws.Body, "render", gs.Render, ws.Render); err != nil {
				return fmt.Errorf("session %d segment %d: %w", g.Seq, j, err)
			}
		}
	}
	return nil
}

// sameBlobs compares pairs of (name, got, want): bytes and nil-ness.
func sameBlobs(pairs ...any) error {
	for i := 0; i < len(pairs); i += 3 {
		got, want := pairs[i+1].([]byte), pairs[i+2].([]byte)
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			return fmt.Errorf("%s %.40q (nil %v), want %.40q (nil %v)", pairs[i], got, got == nil, want, want == nil)
		}
	}
	return nil
}

// rawRecord is a record whose sessions have segments(seq) segments, bodies
// of varied sizes (some spilling to overflow pages) that name version,
// and render scripts on the rows render picks.
func rawRecord(tenant, id string, version int64, sessions int, segments func(seq int) int, render func(seq, segment int) bool) *callvault.Record {
	r := &callvault.Record{Tenant: tenant, ID: id, Version: version, Body: []byte(`{}`)}
	body := func(seq, segment int) []byte {
		pad := strings.Repeat(string(rune('a'+(seq+segment)%26)), (seq*7919+segment*104729)%23000)
		return fmt.Appendf(nil, `{"tenant":%q,"v":%d,"seq":%d,"segment":%d,"pad":%q}`, tenant, version, seq, segment, pad)
	}
	for seq := 1; seq <= sessions; seq++ {
		s := callvault.Session{ID: fmt.Sprintf("%s-s%d", id, seq), Body: body(seq, 0)}
		if render(seq, 0) {
			s.Render = fmt.Appendf(nil, "render %s v%d s%d", tenant, version, seq)
		}
		for j := 1; j <= segments(seq); j++ {
			g := callvault.Segment{ID: fmt.Sprintf("g%d", j), Body: body(seq, j)}
			if render(seq, j) {
				g.Render = fmt.Appendf(nil, "render %s v%d s%d g%d", tenant, version, seq, j)
			}
			s.Segments = append(s.Segments, g)
		}
		r.Sessions = append(r.Sessions, s)
	}
	return r
}

func putRecord(t testing.TB, db *DB, r *callvault.Record) {
	t.Helper()
	if _, err := db.PutRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// TestRawReadMatchesDatabaseSQL compares the raw read with the reference on
// pages of every shape, records of two tenants sharing an id, bodies stored
// as TEXT and as BLOB, and records that are not there.
// pageVisitor collects what VisitSessions hands over, copied (the bytes
// are SQLite's only during each call).
type pageVisitor struct{ page callvault.SessionPage }

func (v *pageVisitor) Stamp(stamp int64) { v.page.Stamp = stamp }

func (v *pageVisitor) Session(seq int64, body, render []byte) error {
	v.page.Sessions = append(v.page.Sessions, callvault.SessionRow{Seq: seq, Body: bytes.Clone(body), Render: bytes.Clone(render)})
	return nil
}

func (v *pageVisitor) Segment(body, render []byte) error {
	s := &v.page.Sessions[len(v.page.Sessions)-1]
	s.Segments = append(s.Segments, callvault.Segment{Body: bytes.Clone(body), Render: bytes.Clone(render)})
	return nil
}

func visitPage(ctx context.Context, db *DB, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	v := &pageVisitor{}
	more, err := db.VisitSessions(ctx, q, v)
	v.page.More = more
	return &v.page, err
}

// withoutIDs is page with its ids left out, as VisitSessions gives none.
func withoutIDs(page *callvault.SessionPage) *callvault.SessionPage {
	out := &callvault.SessionPage{More: page.More}
	for _, s := range page.Sessions {
		s.ID = ""
		segs := make([]callvault.Segment, len(s.Segments))
		for i, g := range s.Segments {
			segs[i] = callvault.Segment{Body: g.Body, Render: g.Render}
		}
		s.Segments = segs
		out.Sessions = append(out.Sessions, s)
	}
	return out
}

func TestRawReadMatchesDatabaseSQL(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	putRecord(t, db, rawRecord("t1", "big", 1, 150, func(seq int) int { return seq % 4 }, func(seq, g int) bool { return (seq+g)%3 != 0 }))
	putRecord(t, db, rawRecord("t2", "big", 1, 20, func(int) int { return 2 }, func(seq, g int) bool { return g == 0 }))
	putRecord(t, db, rawRecord("t1", "no-segments", 1, 30, func(int) int { return 0 }, func(int, int) bool { return false }))
	putRecord(t, db, rawRecord("t1", "empty", 1, 0, nil, nil))
	putRecord(t, db, rawRecord("t1", "only-t1", 1, 3, func(int) int { return 1 }, func(int, int) bool { return true }))
	// Some bodies as TEXT, which column_blob reads as their bytes.
	for _, stmt := range []string{
		`UPDATE sessions SET body = CAST(body AS TEXT) WHERE seq % 3 = 0`,
		`UPDATE segments SET body = CAST(body AS TEXT), render = CAST(render AS TEXT) WHERE seq = 2`,
	} {
		if _, err := db.write.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	type key struct{ tenant, id string }
	var arena []byte
	pages := 0
	for _, k := range []key{{"t1", "big"}, {"t2", "big"}, {"t1", "no-segments"}, {"t1", "empty"}, {"t1", "only-t1"},
		{"t2", "only-t1"}, {"t1", "unknown"}, {"nobody", "big"}, {"t1", "BIG"}} {
		for _, after := range []int64{0, 1, 29, 59, 149, 150, 1 << 40} {
			for _, limit := range []int{1, 7, 60, 1000, math.MaxInt} {
				for _, segments := range []bool{true, false} {
					q := callvault.SessionQuery{Tenant: k.tenant, RecordID: k.id, After: after, Limit: limit, Segments: segments}
					want, wantErr := listSessionsSQL(ctx, db, q)
					// Half the reads with an arena reused from the last, and a
					// prefix that must stay.
					if pages%2 == 0 {
						q.Arena = append(arena[:0], "prefix"...)
					}
					got, err := db.ListSessions(ctx, q)
					pages++
					if (err == nil) != (wantErr == nil) || callvault.ErrorCode(err) != callvault.ErrorCode(wantErr) {
						t.Fatalf("%+v: error %v, want %v", k, err, wantErr)
					}
					if err != nil {
						if callvault.ErrorCode(err) != callvault.ENOTFOUND {
							t.Fatalf("%+v: %v, want ENOTFOUND", k, err)
						}
						if _, err := visitPage(ctx, db, q); callvault.ErrorCode(err) != callvault.ENOTFOUND {
							t.Fatalf("%+v: VisitSessions: %v, want ENOTFOUND", k, err)
						}
						continue
					}
					if err := samePage(got, want); err != nil {
						t.Fatalf("%s/%s after %d limit %d segments %v: %v", k.tenant, k.id, after, limit, segments, err)
					}
					// VisitSessions hands over the same rows, ids aside.
					visited, err := visitPage(ctx, db, q)
					if err != nil {
						t.Fatalf("%+v: VisitSessions: %v", k, err)
					}
					if err := samePage(visited, withoutIDs(want)); err != nil {
						t.Fatalf("%s/%s after %d limit %d segments %v: VisitSessions: %v", k.tenant, k.id, after, limit, segments, err)
					}
					if q.Arena != nil {
						if !bytes.HasPrefix(got.Arena, []byte("prefix")) {
							t.Fatalf("the arena lost its prefix: %.20q", got.Arena)
						}
						arena = got.Arena
					}
				}
			}
		}
	}
}

// TestRawReadRender checks that a row without render scripts reads nil and
// a row with them reads them, for sessions and segments.
func TestRawReadRender(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	r := rawRecord("t", "r", 1, 6, func(int) int { return 2 }, func(seq, g int) bool { return (seq+g)%2 == 0 })
	putRecord(t, db, r)
	page, err := db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 10, Segments: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range page.Sessions {
		w := r.Sessions[i]
		if err := sameBlobs("render", s.Render, w.Render); err != nil {
			t.Errorf("session %d: %v", s.Seq, err)
		}
		if (s.Render == nil) != ((i+1)%2 != 0) {
			t.Errorf("session %d: render %q", s.Seq, s.Render)
		}
		for j, g := range s.Segments {
			if err := sameBlobs("render", g.Render, w.Segments[j].Render); err != nil {
				t.Errorf("session %d segment %d: %v", s.Seq, j+1, err)
			}
		}
	}
}

// TestRawReadArena reads into an arena too small for the page, which must
// grow several times, then into one large enough, which must be used as it
// is; every body is a slice of the returned arena whose capacity ends with
// it.
func TestRawReadArena(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	r := rawRecord("t", "r", 1, 40, func(seq int) int { return seq % 3 }, func(seq, g int) bool { return seq%2 == 0 })
	putRecord(t, db, r)
	q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true}
	want, err := listSessionsSQL(t.Context(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, page *callvault.SessionPage) {
		t.Helper()
		if err := samePage(page, want); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(page.Arena, []byte("abc")) {
			t.Fatalf("the arena starts %.10q, want the caller's abc kept", page.Arena)
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(page.Arena)))
		hi := lo + uintptr(len(page.Arena))
		var blobs [][]byte
		for _, s := range page.Sessions {
			blobs = append(blobs, s.Body, s.Render)
			for _, g := range s.Segments {
				blobs = append(blobs, g.Body, g.Render)
			}
		}
		for _, b := range blobs {
			if b == nil {
				continue
			}
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); p < lo || p+uintptr(len(b)) > hi {
				t.Fatalf("a body of %d bytes is not in the arena", len(b))
			}
			if cap(b) != len(b) {
				t.Fatalf("a body of %d bytes has capacity %d", len(b), cap(b))
			}
		}
		// An append to one body leaves the next as it was.
		first, second := page.Sessions[0].Body, bytes.Clone(page.Sessions[1].Body)
		_ = append(first, "xxxxxxxx"...)
		if !bytes.Equal(page.Sessions[1].Body, second) {
			t.Fatal("an append to a body wrote over the next")
		}
	}

	// A new database: its first read has no size to go by.
	small := append(make([]byte, 0, 4), "abc"...)
	page, err := db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: q.Tenant, RecordID: q.RecordID, Limit: q.Limit, Segments: true, Arena: small})
	if err != nil {
		t.Fatal(err)
	}
	if size := len(page.Arena); size < 64<<10 {
		t.Fatalf("the page is %d bytes: too small to grow the arena several times", size)
	}
	check(t, page)

	big := append(make([]byte, 0, 2*len(page.Arena)), "abc"...)
	q.Arena = big
	page, err = db.ListSessions(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	check(t, page)
	if unsafe.SliceData(page.Arena) != unsafe.SliceData(big) {
		t.Error("an arena large enough for the page was not used")
	}

	// No arena: the store allocates one, and returns it.
	page, err = db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: q.Tenant, RecordID: q.RecordID, Limit: q.Limit, Segments: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := samePage(page, want); err != nil {
		t.Fatal(err)
	}
	if page.Arena == nil {
		t.Error("no arena returned")
	}
}

// TestRawReadAllocs checks that a page costs a few allocations, whatever its
// number of rows: none per body.
func TestRawReadAllocs(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	putRecord(t, db, rawRecord("t", "r", 1, 100, func(int) int { return 2 }, func(seq, g int) bool { return seq%2 == 0 }))
	ctx := context.Background()
	allocs := func(limit int) float64 {
		q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: limit, Segments: true}
		var arena []byte
		return testing.AllocsPerRun(20, func() {
			q.Arena = arena[:0]
			page, err := db.ListSessions(ctx, q)
			if err != nil || len(page.Sessions) != limit {
				t.Fatalf("%d sessions, %v", len(page.Sessions), err)
			}
			arena = page.Arena
		})
	}
	few, many := allocs(3), allocs(60)
	t.Logf("allocations a page: %v of 3 sessions, %v of 60", few, many)
	if many > few || many > 8 {
		t.Errorf("a page of 60 sessions made %v allocations, one of 3 %v: want the same few", many, few)
	}
}

// TestRawReadConcurrent has more readers than connections reading pages of
// two records at once (run it with -race).
func TestRawReadConcurrent(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	putRecord(t, db, rawRecord("t", "a", 1, 90, func(seq int) int { return seq % 3 }, func(seq, g int) bool { return g == 0 }))
	putRecord(t, db, rawRecord("t", "b", 1, 45, func(int) int { return 1 }, func(seq, g int) bool { return seq%2 == 1 }))
	var queries []callvault.SessionQuery
	var want []*callvault.SessionPage
	for _, id := range []string{"a", "b"} {
		for after := int64(0); after < 90; after += 30 {
			q := callvault.SessionQuery{Tenant: "t", RecordID: id, After: after, Limit: 30, Segments: after%60 == 0}
			w, err := listSessionsSQL(t.Context(), db, q)
			if err != nil {
				t.Fatal(err)
			}
			queries, want = append(queries, q), append(want, w)
		}
	}
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			var arena []byte
			for i := range 40 {
				k := (g + i) % len(queries)
				q := queries[k]
				q.Arena = arena[:0]
				page, err := db.ListSessions(t.Context(), q)
				if err != nil {
					t.Error(err)
					return
				}
				if err := samePage(page, want[k]); err != nil {
					t.Errorf("%+v: %v", queries[k], err)
					return
				}
				arena = page.Arena
			}
		})
	}
	wg.Wait()
}

// TestRawReadSnapshot replaces the record between the read of its sessions
// and that of their segments: the page must still be wholly the version
// the sessions are of.
func TestRawReadSnapshot(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	segments := func(v int64) func(int) int { return func(seq int) int { return (seq + int(v)) % 3 } }
	v1 := rawRecord("t", "r", 1, 20, segments(1), func(seq, g int) bool { return g == 1 })
	v2 := rawRecord("t", "r", 2, 25, segments(2), func(seq, g int) bool { return g == 2 })
	putRecord(t, db, v1)
	q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true}
	want1, err := listSessionsSQL(t.Context(), db, q)
	if err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	rawBetweenStatements = func() { once.Do(func() { putRecord(t, db, v2) }) }
	defer func() { rawBetweenStatements = nil }()
	page, err := db.ListSessions(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := samePage(page, want1); err != nil {
		t.Fatalf("a page read while the record was replaced: %v", err)
	}
	want2, err := listSessionsSQL(t.Context(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want2.Sessions) != 25 {
		t.Fatalf("the replacement has %d sessions, want 25", len(want2.Sessions))
	}
	page, err = db.ListSessions(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if err := samePage(page, want2); err != nil {
		t.Fatalf("the page after the replacement: %v", err)
	}
}

// TestRawReadConcurrentWrites reads pages while writers replace the record:
// every page is of one version, which the bodies name.
func TestRawReadConcurrentWrites(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	version := func(v int64) *callvault.Record {
		return rawRecord("t", "r", v, 10+int(v%4)*5, func(seq int) int { return (seq + int(v)) % 3 }, func(seq, g int) bool { return true })
	}
	putRecord(t, db, version(0))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for v := int64(1); v <= 40; v++ {
			putRecord(t, db, version(v))
		}
	})
	for range 4 {
		wg.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads > 0 {
						return
					}
				default:
				}
				page, err := db.ListSessions(t.Context(), callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true})
				if err != nil {
					t.Error(err)
					return
				}
				var v int64
				if _, err := fmt.Sscanf(string(page.Sessions[0].Body), `{"tenant":"t","v":%d`, &v); err != nil {
					t.Errorf("body %.40q: %v", page.Sessions[0].Body, err)
					return
				}
				want := version(v)
				if len(page.Sessions) != len(want.Sessions) {
					t.Errorf("version %d: %d sessions, want %d", v, len(page.Sessions), len(want.Sessions))
					return
				}
				for i, s := range page.Sessions {
					w := want.Sessions[i]
					if !bytes.Equal(s.Body, w.Body) || !bytes.Equal(s.Render, w.Render) || len(s.Segments) != len(w.Segments) {
						t.Errorf("version %d session %d: not of the version", v, s.Seq)
						return
					}
					for j, g := range s.Segments {
						if !bytes.Equal(g.Body, w.Segments[j].Body) || !bytes.Equal(g.Render, w.Segments[j].Render) {
							t.Errorf("version %d session %d segment %d: not of the version", v, s.Seq, j+1)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestRawReadCanceled checks that a read whose context is done returns its
// error, before it starts and while it reads, and leaves its connection
// fit for the next read.
func TestRawReadCanceled(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	r := rawRecord("t", "r", 1, 2000, func(seq int) int { return seq % 2 }, func(int, int) bool { return false })
	putRecord(t, db, r)
	q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 100, Segments: true}
	want, err := listSessionsSQL(t.Context(), db, q)
	if err != nil {
		t.Fatal(err)
	}
	// fit checks that reads after a canceled one return whole pages, and
	// that no connection was lost.
	conns := rawConnsOpen.Load()
	fit := func(t *testing.T) {
		t.Helper()
		for range 3 {
			page, err := db.ListSessions(context.Background(), q)
			if err != nil {
				t.Fatalf("a read after a canceled one: %v", err)
			}
			if err := samePage(page, want); err != nil {
				t.Fatalf("a read after a canceled one: %v", err)
			}
		}
		if n := rawConnsOpen.Load(); n != conns {
			t.Fatalf("%d raw connections open, want %d", n, conns)
		}
	}
	if _, err := db.ListSessions(context.Background(), q); err != nil {
		t.Fatal(err)
	}
	conns = rawConnsOpen.Load()

	t.Run("before the read", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := db.ListSessions(ctx, q); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		fit(t)
	})

	t.Run("between statements", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rawBetweenStatements = cancel
		defer func() { rawBetweenStatements = nil }()
		if _, err := db.ListSessions(ctx, q); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		rawBetweenStatements = nil
		fit(t)
	})

	t.Run("while a statement runs", func(t *testing.T) {
		// A page of 2,000 sessions (~35 MB) takes tens of milliseconds:
		// canceled within its first two, while the sessions' statement
		// runs, a read returns the context's error (or, had it finished,
		// the whole page).
		q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 5000, Segments: true}
		canceled := 0
		for i := range 20 {
			ctx, cancel := context.WithCancel(context.Background())
			timer := time.AfterFunc(time.Duration(i*100)*time.Microsecond, cancel)
			page, err := db.ListSessions(ctx, q)
			timer.Stop()
			cancel()
			switch {
			case errors.Is(err, context.Canceled):
				canceled++
			case err != nil:
				t.Fatalf("cancel after %d µs: %v", i*100, err)
			case len(page.Sessions) != 2000:
				t.Fatalf("cancel after %d µs: %d sessions, want all 2000", i*100, len(page.Sessions))
			}
		}
		t.Logf("%d of 20 reads canceled", canceled)
		fit(t)
	})
}

// TestRawConn checks how a raw connection is opened: read only, with the
// busy timeout, and that a failed open frees what it took.
func TestRawConn(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	c, err := openRaw(db.raw.name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	run := func(sql string) (int64, error) {
		s, err := c.prepare(sql)
		if err != nil {
			return 0, err
		}
		defer lib.Xsqlite3_finalize(c.tls, s)
		switch rc := lib.Xsqlite3_step(c.tls, s); rc {
		case lib.SQLITE_ROW:
			return lib.Xsqlite3_column_int64(c.tls, s, 0), nil
		case lib.SQLITE_DONE:
			return 0, nil
		default:
			return 0, c.errorOf(rc)
		}
	}
	if n, err := run("PRAGMA busy_timeout"); err != nil || n != busyTimeoutMillis {
		t.Errorf("busy_timeout %d, %v; want %d", n, err, busyTimeoutMillis)
	}
	_, err = run("DELETE FROM sessions")
	var se *sqliteError
	if !errors.As(err, &se) || se.Code()&0xff != lib.SQLITE_READONLY {
		t.Errorf("a write on a raw connection: %v, want SQLITE_READONLY", err)
	}

	// The file: URI of a path that needs escaping names the same file.
	odd := open(t, filepath.Join(t.TempDir(), "a ?b#c%20", "callvault.db"))
	defer odd.Close()
	putRecord(t, odd, rawRecord("t", "r", 1, 2, func(int) int { return 1 }, func(int, int) bool { return false }))
	if page, err := odd.ListSessions(t.Context(), callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 10, Segments: true}); err != nil || len(page.Sessions) != 2 {
		t.Errorf("a database at a path that needs escaping: %v", err)
	}

	before := rawConnsOpen.Load()
	if _, err := openRaw(dsn(filepath.Join(t.TempDir(), "missing", "x.db"), nil)); err == nil {
		t.Error("opened a database that is not there")
	} else if !strings.Contains(err.Error(), "unable to open") {
		t.Errorf("open of a missing file: %v", err)
	}
	if n := rawConnsOpen.Load(); n != before {
		t.Errorf("a failed open left %d raw connections, want %d", n, before)
	}
}

// TestRawPoolClose checks that Close waits for a read in progress, that
// reads after it fail, and that opening and closing many databases frees
// every connection, TLS and byte of C memory.
func TestRawPoolClose(t *testing.T) {
	t.Run("waits for a read", func(t *testing.T) {
		db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
		putRecord(t, db, rawRecord("t", "r", 1, 5, func(int) int { return 1 }, func(int, int) bool { return true }))
		q := callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true}
		entered, release := make(chan struct{}), make(chan struct{})
		rawBetweenStatements = func() { close(entered); <-release }
		defer func() { rawBetweenStatements = nil }()
		read := make(chan error, 1)
		go func() {
			page, err := db.ListSessions(context.Background(), q)
			if err == nil && len(page.Sessions[0].Segments) != 1 {
				err = fmt.Errorf("segments %d, want 1", len(page.Sessions[0].Segments))
			}
			read <- err
		}()
		<-entered
		rawBetweenStatements = nil
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while a read was in progress", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-read; err != nil {
			t.Errorf("the read in progress: %v", err)
		}
		if err := <-closed; err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := db.ListSessions(context.Background(), q); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("a read after Close: %v, want an error", err)
		}
	})

	t.Run("frees everything", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "callvault.db")
		db := open(t, path)
		putRecord(t, db, rawRecord("t", "r", 1, 30, func(int) int { return 1 }, func(int, int) bool { return true }))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		cycle := func() {
			db := open(t, path)
			var wg sync.WaitGroup
			for range 6 { // more than one connection
				wg.Go(func() {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if _, err := db.ListSessions(ctx, callvault.SessionQuery{Tenant: "t", RecordID: "r", Limit: 60, Segments: true}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}
		conns := rawConnsOpen.Load()
		for range 5 {
			cycle()
		}
		before := libc.MemStat()
		for range 50 {
			cycle()
		}
		after := libc.MemStat()
		if n := rawConnsOpen.Load(); n != conns {
			t.Errorf("%d raw connections left open, want %d", n, conns)
		}
		// libc counts its allocations only with -tags memory.counters.
		if before.Allocs == 0 && before.Bytes == 0 {
			t.Log("C memory not checked: run with -tags memory.counters")
			return
		}
		t.Logf("C allocations before %d after %d; bytes before %d after %d", before.Allocs, after.Allocs, before.Bytes, after.Bytes)
		if d := after.Allocs - before.Allocs; d > 50 {
			t.Errorf("50 opens and closes left %d more C allocations", d)
		}
	})
}

// failingVisitor refuses the third session it is handed.
type failingVisitor struct{ n int }

func (v *failingVisitor) Session(int64, []byte, []byte) error {
	if v.n++; v.n == 3 {
		return errors.New("no more")
	}
	return nil
}

func (v *failingVisitor) Segment([]byte, []byte) error { return nil }

func (v *failingVisitor) Stamp(int64) {}

// TestVisitSessionsStops checks that a visitor's error ends the read with
// that error and leaves the connection fit for the next read.
func TestVisitSessionsStops(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	putRecord(t, db, rawRecord("t1", "r", 1, 10, func(int) int { return 2 }, func(int, int) bool { return true }))
	q := callvault.SessionQuery{Tenant: "t1", RecordID: "r", Limit: 60, Segments: true}
	for range 8 { // more reads than the pool has connections
		if _, err := db.VisitSessions(ctx, q, &failingVisitor{}); err == nil || !strings.Contains(err.Error(), "no more") {
			t.Fatalf("error %v, want the visitor's", err)
		}
		page, err := visitPage(ctx, db, q)
		if err != nil || len(page.Sessions) != 10 || len(page.Sessions[9].Segments) != 2 {
			t.Fatalf("the read after: %v, %d sessions", err, len(page.Sessions))
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.VisitSessions(canceled, q, &pageVisitor{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
