package postgres

import (
	"sync"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// A page of sessions with their segments is ~130 rows and, with their render
// scripts, ~1 MB of bytes. Scanned into a new []byte and string each, that
// is ~400 allocations a page, and as much garbage as the page's size.
// sessionScan copies the bytes of every body and render script straight
// from pgx's read buffer into one arena (the caller's, when it gives one:
// callvault.SessionQuery.Arena) and every id into one buffer, and slices the
// page from them once the last row is in: a handful of allocations a page,
// whatever its size.

// maxPageHint bounds the arena a read reserves from the size of the last
// page (DB.lastPage): a huge page once must not make every page allocate
// that much.
const maxPageHint = 4 << 20

// sessionScan reads rows of the shape of sqlSelectSessions: (seq, sub, id,
// body, render).
type sessionScan struct {
	seq, sub         int64
	id, body, render span
	dest             []any // &seq, &sub, &id, &body, &render: made once, as Scan's arguments escape

	ids   []byte // the ids of rows, end to end
	arena []byte // bodies and render scripts, after what the caller had in it
	rows  []scannedRow
	segs  int   // how many of rows are segments
	stamp int64 // the record's, from its row (a page's query selects it)
}

// scannedRow is a session or segment row as offsets into ids and arena.
type scannedRow struct {
	seq, sub         int64
	id0, id1         int
	body0, body1     int
	render0, render1 int // render0 < 0: NULL
}

// span is a scan target that appends a column's bytes to *buf and records
// where; start < 0 for NULL. pgx hands it the bytes in its read buffer
// (pgtype.BytesScanner), or, in the text format, the bytea it decoded.
type span struct {
	buf        *[]byte
	start, end int
}

func (s *span) ScanBytes(v []byte) error {
	if v == nil {
		s.start, s.end = -1, -1
		return nil
	}
	*s.buf = appendGrown(*s.buf, v)
	s.end = len(*s.buf)
	s.start = s.end - len(v)
	return nil
}

// appendGrown appends v to b, doubling b when it is full: append grows a
// large slice by a quarter, which would copy a page's arena many times.
func appendGrown(b, v []byte) []byte {
	if len(b)+len(v) > cap(b) {
		grown := make([]byte, len(b), max(2*cap(b), len(b)+len(v), 8<<10))
		copy(grown, b)
		b = grown
	}
	return append(b, v...)
}

var sessionScans = sync.Pool{New: func() any {
	sc := &sessionScan{}
	sc.id.buf, sc.body.buf, sc.render.buf = &sc.ids, &sc.arena, &sc.arena
	sc.dest = []any{&sc.seq, &sc.sub, &sc.id, &sc.body, &sc.render}
	return sc
}}

// getSessionScan returns a scan that appends bodies to arena.
func getSessionScan(arena []byte) *sessionScan {
	sc := sessionScans.Get().(*sessionScan)
	sc.arena = arena
	return sc
}

// reset empties sc for a new read into arena.
func (sc *sessionScan) reset(arena []byte) {
	sc.ids, sc.rows, sc.segs, sc.arena, sc.stamp = sc.ids[:0], sc.rows[:0], 0, arena, 0
}

// putSessionScan returns sc to the pool, without the caller's memory and
// without buffers a huge page grew.
func putSessionScan(sc *sessionScan) {
	sc.arena = nil
	if cap(sc.rows) > 4096 || cap(sc.ids) > 256<<10 {
		return
	}
	sc.ids, sc.rows, sc.segs = sc.ids[:0], sc.rows[:0], 0
	sessionScans.Put(sc)
}

// reserve returns arena with room for a page the size of the last one,
// growing it (once) when it has not: a caller without an arena of its own,
// or with a small one, then gets one allocation rather than a doubling.
func (db *DB) reserve(arena []byte) []byte {
	need := int(db.lastPage.Load())
	if cap(arena)-len(arena) >= need {
		return arena
	}
	grown := make([]byte, len(arena), len(arena)+need+need/8)
	copy(grown, arena)
	return grown
}

// scan reads the rows, keeping at most limit sessions, with their segments,
// and reports whether the record's marker row was among them and whether a
// session followed the limit.
func (sc *sessionScan) scan(rows pgx.Rows, limit int) (found, more bool, err error) {
	defer rows.Close()
	sessions := 0
	for rows.Next() {
		ids, arena := len(sc.ids), len(sc.arena)
		if err := rows.Scan(sc.dest...); err != nil {
			return false, false, err
		}
		switch {
		case sc.seq == 0:
			found = true
			sc.stamp = sc.sub // the record's row carries its stamp
			continue
		case sc.sub == 0 && sessions == limit:
			// The session after the page: that it exists is all we need.
			more = true
			sc.ids, sc.arena = sc.ids[:ids], sc.arena[:arena]
			continue
		case sc.sub == 0:
			sessions++
		case len(sc.rows) == 0 || sc.rows[len(sc.rows)-1].seq != sc.seq:
			// Rows come in (seq, sub) order: a segment follows its session,
			// or belongs to no session of the page.
			sc.ids, sc.arena = sc.ids[:ids], sc.arena[:arena]
			continue
		default:
			sc.segs++
		}
		sc.rows = append(sc.rows, scannedRow{
			seq: sc.seq, sub: sc.sub,
			id0: sc.id.start, id1: sc.id.end,
			body0: sc.body.start, body1: sc.body.end,
			render0: sc.render.start, render1: sc.render.end,
		})
	}
	return found, more, rows.Err()
}

// sessions returns the sessions scanned, slicing their ids, bodies and
// render scripts from the buffers now that they have stopped growing.
func (sc *sessionScan) sessions() []callvault.SessionRow {
	ids := string(sc.ids)
	sessions := make([]callvault.SessionRow, 0, len(sc.rows)-sc.segs)
	var segs []callvault.Segment
	if sc.segs > 0 {
		segs = make([]callvault.Segment, 0, sc.segs)
	}
	first := 0 // the first segment of the last session
	for i := range sc.rows {
		r := &sc.rows[i]
		if r.sub != 0 {
			segs = append(segs, callvault.Segment{ID: ids[r.id0:r.id1], Body: sub(sc.arena, r.body0, r.body1), Render: r.render(sc.arena)})
			sessions[len(sessions)-1].Segments = segs[first:len(segs):len(segs)]
			continue
		}
		first = len(segs)
		sessions = append(sessions, callvault.SessionRow{Seq: r.seq, ID: ids[r.id0:r.id1], Body: sub(sc.arena, r.body0, r.body1), Render: r.render(sc.arena)})
	}
	return sessions
}

// render returns the row's render scripts, nil when it has none.
func (r *scannedRow) render(arena []byte) []byte {
	if r.render0 < 0 || r.render0 == r.render1 {
		return nil
	}
	return sub(arena, r.render0, r.render1)
}

// sub returns arena[i:j] with its capacity cut, so that an append to it
// cannot write over the next body. An empty body is empty, not nil, even
// in an arena that is.
func sub(arena []byte, i, j int) []byte {
	if i == j {
		return []byte{}
	}
	return arena[i:j:j]
}
