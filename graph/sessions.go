package graph

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// MaxSessionsPage is the most sessions Graph returns in one page.
const MaxSessionsPage = 60

// bufPool holds response buffers: a page is bounded (60 sessions), so one
// buffer per request in flight is all the memory a page costs.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// arenaPool holds the memory a store copies a page's bodies into
// (callvault.SessionQuery.Arena), likewise one per request in flight.
var arenaPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// listSessions serves GET /{version}/communications/callRecords/{id}/sessions.
func (s *Server) listSessions(w http.ResponseWriter, req *request) error {
	r := req.r
	codec := req.codec
	session := codec.Model.Type(schema.CallRecordsNamespace + ".session")
	prefs := req.prefs
	q, err := odata.ParseQuery(r.URL.RawQuery, req.version, session, sessionRules)
	if err != nil {
		return err
	}
	recordID := req.route.steps[0].key
	var count int64 = -1
	if q.Count || s.Retention > 0 {
		// Retention and $count need the record's header: one more read.
		h, err := s.record(r.Context(), req, recordID)
		if err != nil {
			return err
		}
		count = int64(h.Sessions)
	}
	resource := "callRecords" + odata.KeySegment(recordID) + "/sessions"
	scope := odata.Scope{Tenant: req.principal.Tenant, Resource: resource, Version: req.version, Shape: q.Clause()}
	var after odata.Position
	if q.SkipToken != "" {
		if after, err = s.Cursors.Open(scope, q.SkipToken); err != nil {
			return err
		}
	}
	size := prefs.PageSize(MaxSessionsPage)
	segments := q.Expanded("segments")
	query := callvault.SessionQuery{
		Tenant: req.principal.Tenant, RecordID: recordID, After: after.N, Limit: size, Segments: segments != nil,
	}
	// A compressed page asked before may stand (pagecache.go).
	gz := acceptsGzip(r.Header.Values("Accept-Encoding"))
	limit := s.pageCacheLimit()
	var key pageKey
	var held pageEntry
	var holds bool
	if gz && limit > 0 {
		key = newPageKey(req)
		if held, holds = s.pages.get(key); holds {
			query.Known = held.stamp
		}
	}

	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"@odata.context":`...)
	b = odata.AppendString(b, s.PublicURL+"/"+req.version+"/$metadata#communications/"+resource+q.Clause())
	if q.Count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, count, 10)
	}
	b = append(b, `,"value":[`...)
	var more bool
	var last, stamp int64 // the Seq of the page's last session; the record's stamp
	if vs, ok := s.Store.(callvault.SessionPageVisitor); ok {
		// The bodies go from the store's memory straight into the response.
		pw := newPageWriter(b, req, q)
		t0 := time.Now()
		more, err = vs.VisitSessions(r.Context(), query, pw)
		storeTime(r, t0)
		b, last, stamp = pw.finish(), pw.last, pw.stamp
	} else {
		b, more, last, stamp, err = s.listedSessions(b, req, query, q)
	}
	*bp = b
	if err != nil {
		if holds {
			s.pages.drop(key)
		}
		if callvault.ErrorCode(err) == callvault.ENOTFOUND {
			return callvault.Errorf(callvault.ENOTFOUND, "The callRecord '%s' was not found.", recordID)
		}
		return err
	}
	if holds && stamp == held.stamp {
		s.PageCache.Hits.Add(1)
		s.sendGzip(w, r, held.z, prefs.Applied(size))
		return nil
	} else if holds {
		s.PageCache.Stale.Add(1)
	}
	b = append(b, ']')
	if more {
		next := s.PublicURL + r.URL.EscapedPath() + "?" + q.NextQuery(s.Cursors.Seal(scope, odata.Position{N: last}))
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, next)
	}
	b = append(b, '}')
	*bp = b
	if gz && limit > 0 && len(b) >= gzipCacheMin && stamp != 0 {
		// Compressed once for the page cache, which supersedes the cache of
		// compressed bodies (gzipped): hashing the page for it is not needed.
		z := compressed(b)
		if s.pages.put(key, stamp, z, limit) {
			s.PageCache.Kept.Add(1)
		}
		s.sendGzip(w, r, z, prefs.Applied(size))
		return nil
	}
	if holds {
		s.pages.drop(key) // the record changed, and its page is no longer kept
	}
	s.send(w, r, b, prefs.Applied(size))
	return nil
}

// listedSessions reads a page with ListSessions, into a pooled arena, and
// appends its sessions to b. The record's stamp comes back too; when it is
// query.Known, the page is unchanged and b is as it was.
func (s *Server) listedSessions(b []byte, req *request, query callvault.SessionQuery, q *odata.Query) (_ []byte, more bool, last, stamp int64, err error) {
	ap := arenaPool.Get().(*[]byte)
	defer func() {
		if cap(*ap) <= 4<<20 { // a page's bodies are bounded; a huge one is not kept
			arenaPool.Put(ap)
		}
	}()
	query.Arena = (*ap)[:0]
	t0 := time.Now()
	page, err := s.Store.ListSessions(req.r.Context(), query)
	storeTime(req.r, t0)
	if page != nil && page.Arena != nil {
		*ap = page.Arena // grown: keep the larger one for the next page
	}
	if err != nil {
		return b, false, 0, 0, err
	}
	if page.Unchanged {
		return b, false, 0, page.Stamp, nil
	}
	if need := len(b) + pageSize(page); cap(b) < need {
		b = append(make([]byte, 0, need), b...) // one allocation rather than a doubling
	}
	b = s.appendSessions(b, req, page.Sessions, q)
	if n := len(page.Sessions); n > 0 {
		last = page.Sessions[n-1].Seq
	}
	return b, page.More, last, page.Stamp, nil
}

// pageWriter writes a page's sessions as a store visits them (or as a
// listed page holds them), with their segments when expanded: for a
// default request each by its render script, or merged when it has none
// for this codec (the same bytes); for one with $select or a Prefer that
// changes bodies, merged with the selection and options.
type pageWriter struct {
	b        []byte
	codec    *odata.Codec
	session  *schema.Type
	segments *odata.Expand
	sel      *odata.Selection // the sessions' $select; nil: every property
	opts     odata.Options
	scripted bool  // the render scripts write what this request asks for
	n        int   // sessions written
	segs     int   // segments written of the last session
	last     int64 // the Seq of the last session
	stamp    int64 // the record's
}

func newPageWriter(b []byte, req *request, q *odata.Query) *pageWriter {
	return &pageWriter{b: b, codec: req.codec, session: req.entityType("session"), segments: q.Expanded("segments"),
		sel: q.Select, opts: options(req.prefs), scripted: scripted(q, req.prefs)}
}

func (pw *pageWriter) Stamp(stamp int64) { pw.stamp = stamp }

func (pw *pageWriter) Session(seq int64, body, render []byte) error {
	pw.closeSession()
	if pw.n > 0 {
		pw.b = append(pw.b, ',')
	}
	pw.n, pw.last, pw.segs = pw.n+1, seq, 0
	pw.b = pw.object(pw.b, pw.session, body, render, pw.sel)
	if pw.segments != nil {
		// Reopen the closed object for "segments".
		pw.b = pw.b[:len(pw.b)-1]
		if pw.b[len(pw.b)-1] != '{' {
			pw.b = append(pw.b, ',')
		}
		pw.b = append(pw.b, '"')
		pw.b = append(pw.b, pw.segments.Property.Name...)
		pw.b = append(pw.b, `":[`...)
	}
	return nil
}

func (pw *pageWriter) Segment(body, render []byte) error {
	if pw.segs > 0 {
		pw.b = append(pw.b, ',')
	}
	pw.segs++
	pw.b = pw.object(pw.b, pw.segments.Property.Type, body, render, pw.segments.Select)
	return nil
}

func (pw *pageWriter) object(b []byte, t *schema.Type, body, render []byte, sel *odata.Selection) []byte {
	if pw.scripted {
		if out, ok := pw.codec.RenderStored(b, render, body); ok {
			return out
		}
	}
	return pw.codec.ObjectStored(b, t, body, render, sel, pw.opts)
}

// closeSession ends the segments of the last session written.
func (pw *pageWriter) closeSession() {
	if pw.n > 0 && pw.segments != nil {
		pw.b = append(pw.b, ']', '}')
	}
}

func (pw *pageWriter) finish() []byte {
	pw.closeSession()
	return pw.b
}

// pageSize guesses the size of a page's response from its stored bodies:
// absent properties come back as nulls, so a little under twice as much.
func pageSize(page *callvault.SessionPage) int {
	n := 4 << 10
	for _, row := range page.Sessions {
		n += 2 * len(row.Body)
		for _, seg := range row.Segments {
			n += 2 * len(seg.Body)
		}
	}
	return n
}
