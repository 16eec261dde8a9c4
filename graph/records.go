package graph

import (
	"net/http"
	"strconv"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
)

// Page sizes Graph documents.
const (
	RecordsPage      = 60  // list callRecords: the default and the largest page
	ParticipantsPage = 130 // participants_v2, listed or expanded
)

var recordListRules = odata.Rules{
	Resource: "/communications/callRecords", Select: true, Filter: true, Count: true, SkipToken: true,
	// organizer_v2 is written on every listed record; $expand brings it
	// back when $select narrows the record (docs/graph-fidelity.md).
	Expand:     map[string]bool{"organizer_v2": true},
	ExpandHint: " Listed call records do not include sessions or participants_v2: get each record with GET /communications/callRecords/{id}?$expand=sessions($expand=segments) or $expand=participants_v2.",
}

// recordCountRules are the options of …/callRecords/$count: the list's
// filter, and nothing that shapes or pages a list.
var recordCountRules = odata.Rules{Resource: "/communications/callRecords/$count", Filter: true}

var recordRules = odata.Rules{
	Resource: "/communications/callRecords/{id}", Select: true,
	Expand: map[string]bool{"sessions": true, "participants_v2": true, "organizer_v2": true},
}

// recordQuery parses the query of a callRecords list into a store query.
func (s *Server) recordQuery(req *request, rules odata.Rules) (*odata.Query, callvault.RecordQuery, odata.Scope, error) {
	q, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, req.entityType("callRecord"), rules)
	if err != nil {
		return nil, callvault.RecordQuery{}, odata.Scope{}, err
	}
	var f odata.RecordFilter
	if q.Filter != "" {
		if f, err = odata.ParseRecordFilter(q.Filter); err != nil {
			return nil, callvault.RecordQuery{}, odata.Scope{}, err
		}
	}
	sq := callvault.RecordQuery{Tenant: req.principal.Tenant, Start: f.Start, ParticipantID: f.ParticipantID, NotBefore: s.notBefore(), EndedBy: endedBy(req.r)}
	scope := odata.Scope{Tenant: req.principal.Tenant, Resource: "callRecords", Version: req.version, Shape: q.Clause() + "|" + f.Shape()}
	return q, sq, scope, nil
}

// listRecords serves GET /{version}/communications/callRecords: in order of
// startDateTime, then id (Graph promises no order; this one is stable).
func (s *Server) listRecords(w http.ResponseWriter, req *request) error {
	r := req.r
	q, sq, scope, err := s.recordQuery(req, recordListRules)
	if err != nil {
		return err
	}
	if q.SkipToken != "" {
		pos, err := s.Cursors.Open(scope, q.SkipToken)
		if err != nil {
			return err
		}
		sq.After = &callvault.RecordKey{StartDateTime: timeFromNanos(pos.N), ID: pos.Key}
	}
	size := req.prefs.PageSize(RecordsPage)
	sq.Limit = size
	t0 := time.Now()
	page, err := s.Store.ListRecords(r.Context(), sq)
	storeTime(r, t0)
	if err != nil {
		return err
	}
	var count int64
	if q.Count {
		cq := sq
		cq.After = nil
		t0 := time.Now()
		count, err = s.Store.CountRecords(r.Context(), cq)
		storeTime(r, t0)
		if err != nil {
			return err
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	b := (*bp)[:0]
	b = append(b, `{"@odata.context":`...)
	b = odata.AppendString(b, s.metadata(req.version)+"communications/callRecords"+q.Clause())
	if q.Count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, count, 10)
	}
	b = append(b, `,"value":[`...)
	opts := options(req.prefs)
	for i := range page.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.appendRecord(b, req, &page.Records[i], q, opts, nil, nil)
	}
	b = append(b, ']')
	if page.More {
		last := page.Records[len(page.Records)-1]
		tok := s.Cursors.Seal(scope, odata.Position{N: nanosFromTime(last.StartDateTime), Key: last.ID})
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, s.PublicURL+r.URL.EscapedPath()+"?"+q.NextQuery(tok))
	}
	b = append(b, '}')
	*bp = b
	s.send(w, r, b, req.prefs.Applied(size))
	return nil
}

// countRecords serves GET …/callRecords/$count.
func (s *Server) countRecords(w http.ResponseWriter, req *request) error {
	_, sq, _, err := s.recordQuery(req, recordCountRules)
	if err != nil {
		return err
	}
	t0 := time.Now()
	n, err := s.Store.CountRecords(req.r.Context(), sq)
	storeTime(req.r, t0)
	if err != nil {
		return err
	}
	s.sendCount(w, req.r, n)
	return nil
}

// getRecord serves GET …/callRecords/{id}, with $expand of sessions
// (nested segments), participants_v2 and organizer_v2. Expanded
// collections hold one page and a nextLink that continues them on their own
// endpoint.
func (s *Server) getRecord(w http.ResponseWriter, req *request) error {
	r := req.r
	q, err := odata.ParseQuery(r.URL.RawQuery, req.version, req.entityType("callRecord"), recordRules)
	if err != nil {
		return err
	}
	id := req.key(0)
	h, err := s.record(r.Context(), req, id)
	if err != nil {
		return err
	}
	var sessions *callvault.SessionPage
	var participants *callvault.ParticipantPage
	if e := q.Expanded("sessions"); e != nil {
		t0 := time.Now()
		sessions, err = s.Store.ListSessions(r.Context(), callvault.SessionQuery{
			Tenant: req.principal.Tenant, RecordID: id, Limit: req.prefs.PageSize(MaxSessionsPage), Segments: expands(e, "segments"),
		})
		storeTime(r, t0)
		if err != nil {
			return err
		}
	}
	if q.Expanded("participants_v2") != nil {
		t0 := time.Now()
		participants, err = s.Store.ListParticipants(r.Context(), callvault.ParticipantQuery{
			Tenant: req.principal.Tenant, RecordID: id, Limit: req.prefs.PageSize(ParticipantsPage),
		})
		storeTime(r, t0)
		if err != nil {
			return err
		}
	}
	bp := getBuf()
	defer putBuf(bp)
	b := s.appendRecord((*bp)[:0], req, h, q, options(req.prefs), sessions, participants)
	b = withContext(b, s.metadata(req.version)+"communications/callRecords"+q.Clause()+"/$entity")
	*bp = b
	s.send(w, r, b, req.prefs.Applied(recordPageSize(req.prefs, sessions != nil, participants != nil)))
	return nil
}

// recordPageSize is the page size a record's response applied: that of
// its expanded collection, the smaller of two; 0 when nothing was paged,
// so that Preference-Applied claims no page size.
func recordPageSize(p odata.Preferences, sessions, participants bool) int {
	size := 0
	if sessions {
		size = p.PageSize(MaxSessionsPage)
	}
	if participants {
		if n := p.PageSize(ParticipantsPage); size == 0 || n < size {
			size = n
		}
	}
	return size
}

// expands reports whether an expansion expands name in turn.
func expands(e *odata.Expand, name string) bool {
	for _, x := range e.Expand {
		if x.Property.Name == name {
			return true
		}
	}
	return false
}

// appendRecord writes a callRecord with its auto-expanded organizer_v2 and
// any expanded collections.
func (s *Server) appendRecord(b []byte, req *request, h *callvault.RecordHeader, q *odata.Query, o odata.Options, sessions *callvault.SessionPage, participants *callvault.ParticipantPage) []byte {
	codec := req.codec
	b = codec.Object(b, req.entityType("callRecord"), h.Body, q.Select, o, true)
	key := odata.KeySegment(h.ID)
	base := s.metadata(req.version) + "communications/callRecords" + key
	comma := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	// organizer_v2 is auto-expanded (Core.AutoExpand): written without
	// $expand, unless $select narrows the record.
	if oe := q.Expanded("organizer_v2"); q.Select == nil || oe != nil {
		var sel *odata.Selection
		if oe != nil {
			sel = oe.Select
		}
		switch {
		case h.Organizer != nil:
			comma()
			b = append(b, `"organizer_v2@odata.context":`...)
			b = odata.AppendString(b, base+"/organizer_v2"+(&odata.Query{Select: sel}).Clause()+"/$entity")
			b = append(b, `,"organizer_v2":`...)
			b = codec.Object(b, req.entityType("organizer"), h.Organizer, sel, o, false)
		case !o.OmitNulls:
			comma()
			b = append(b, `"organizer_v2":null`...)
		}
	}
	if participants != nil {
		e := q.Expanded("participants_v2")
		pq := e.Query()
		comma()
		b = append(b, `"participants_v2@odata.context":`...)
		b = odata.AppendString(b, base+"/participants_v2"+pq.Clause()+"/$entity") // as Graph writes it
		if participants.More {
			last := participants.Participants[len(participants.Participants)-1].Seq
			scope := odata.Scope{Tenant: req.principal.Tenant, Resource: "callRecords" + key + "/participants_v2", Version: req.version, Shape: pq.Clause()}
			next := s.PublicURL + "/" + req.version + "/communications/callRecords/" + escapeSegment(h.ID) + "/participants_v2?"
			if opts := e.Options(); opts != "" {
				next += opts + "&"
			}
			b = append(b, `,"participants_v2@odata.nextLink":`...)
			b = odata.AppendString(b, next+"$skiptoken="+s.Cursors.Seal(scope, odata.Position{N: last}))
		}
		b = append(b, `,"participants_v2":`...)
		bodies := make([][]byte, len(participants.Participants))
		for i, p := range participants.Participants {
			bodies[i] = p.Body
		}
		b = codec.Collection(b, req.entityType("participant"), bodies, pq.Select, o)
	}
	if sessions != nil {
		e := q.Expanded("sessions")
		sq := e.Query()
		comma()
		b = append(b, `"sessions@odata.context":`...)
		b = odata.AppendString(b, base+"/sessions"+sq.Clause())
		if sessions.More {
			last := sessions.Sessions[len(sessions.Sessions)-1].Seq
			scope := odata.Scope{Tenant: req.principal.Tenant, Resource: "callRecords" + key + "/sessions", Version: req.version, Shape: sq.Clause()}
			next := s.PublicURL + "/" + req.version + "/communications/callRecords/" + escapeSegment(h.ID) + "/sessions?"
			if opts := e.Options(); opts != "" {
				next += opts + "&"
			}
			b = append(b, `,"sessions@odata.nextLink":`...)
			b = odata.AppendString(b, next+"$skiptoken="+s.Cursors.Seal(scope, odata.Position{N: last}))
		}
		b = append(b, `,"sessions":[`...)
		b = s.appendSessions(b, req, sessions.Sessions, sq)
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendSessions writes sessions, each with its segments when q expands them.
func (s *Server) appendSessions(b []byte, req *request, rows []callvault.SessionRow, q *odata.Query) []byte {
	pw := newPageWriter(b, req, q)
	for _, row := range rows {
		pw.Session(row.Seq, row.Body, row.Render)
		if pw.segments != nil {
			for _, g := range row.Segments {
				pw.Segment(g.Body, g.Render)
			}
		}
	}
	return pw.finish()
}

// scripted reports whether a sessions request is a default one (no
// $select, no Prefer that changes bodies): what the render scripts stored
// beside the bodies write, so that a row with one for this codec is copied
// rather than merged with the schema (pageWriter).
func scripted(q *odata.Query, p odata.Preferences) bool {
	segments := q.Expanded("segments")
	return q.Select == nil && options(p) == (odata.Options{}) && (segments == nil || segments.Select == nil)
}

// withContext puts "@odata.context" first in the object b holds.
func withContext(b []byte, context string) []byte {
	ann := odata.AppendString([]byte(`"@odata.context":`), context)
	if len(b) > 2 {
		ann = append(ann, ',')
	}
	out := make([]byte, 0, len(b)+len(ann))
	out = append(out, '{')
	out = append(out, ann...)
	return append(out, b[1:]...)
}
