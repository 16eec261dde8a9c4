package graph

import (
	"net/http"
	"strconv"
	"sync"

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
	codec := s.codecs[req.version]
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
	ap := arenaPool.Get().(*[]byte)
	defer func() {
		if cap(*ap) <= 4<<20 { // a page's bodies are bounded; a huge one is not kept
			arenaPool.Put(ap)
		}
	}()
	page, err := s.Store.ListSessions(r.Context(), callvault.SessionQuery{
		Tenant: req.principal.Tenant, RecordID: recordID, After: after.N, Limit: size, Segments: segments != nil,
		Arena: (*ap)[:0],
	})
	if page != nil && page.Arena != nil {
		*ap = page.Arena // grown: keep the larger one for the next page
	}
	if err != nil {
		if callvault.ErrorCode(err) == callvault.ENOTFOUND {
			return callvault.Errorf(callvault.ENOTFOUND, "The callRecord '%s' was not found.", recordID)
		}
		return err
	}

	bp := getBuf()
	defer putBuf(bp)
	b := (*bp)[:0]
	if need := pageSize(page); cap(b) < need {
		b = make([]byte, 0, need) // one allocation rather than a doubling
	}
	b = append(b, `{"@odata.context":`...)
	b = odata.AppendString(b, s.PublicURL+"/"+req.version+"/$metadata#communications/"+resource+q.Clause())
	if q.Count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, count, 10)
	}
	b = append(b, `,"value":[`...)
	b = s.appendSessions(b, req, page.Sessions, q, options(prefs))
	b = append(b, ']')
	if page.More {
		last := page.Sessions[len(page.Sessions)-1].Seq
		next := s.PublicURL + r.URL.EscapedPath() + "?" + q.NextQuery(s.Cursors.Seal(scope, odata.Position{N: last}))
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, next)
	}
	b = append(b, '}')
	*bp = b
	s.send(w, r, b, prefs.Applied(size))
	return nil
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
