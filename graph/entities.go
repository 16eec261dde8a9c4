package graph

import (
	"net/http"
	"strconv"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
)

var (
	sessionRules     = odata.Rules{Resource: "/communications/callRecords/{id}/sessions", Select: true, Expand: map[string]bool{"segments": true}, SkipToken: true, Count: true}
	sessionItemRules = odata.Rules{Resource: "/communications/callRecords/{id}/sessions/{id}", Select: true, Expand: map[string]bool{"segments": true}}
	plainRules       = odata.Rules{Resource: "this resource"}
	participantRules = odata.Rules{Resource: "/communications/callRecords/{id}/participants_v2", Select: true, SkipToken: true, Count: true}
	// A participant or the organizer by itself: $select, as on the list.
	participantItemRules = odata.Rules{Resource: "this resource", Select: true}
	segmentsListRules    = odata.Rules{Resource: "/communications/callRecords/{id}/sessions/{id}/segments", Count: true}
)

// countSessions serves GET …/callRecords/{id}/sessions/$count.
func (s *Server) countSessions(w http.ResponseWriter, req *request) error {
	if _, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, req.entityType("session"), plainRules); err != nil {
		return err
	}
	h, err := s.record(req.r.Context(), req, req.key(0))
	if err != nil {
		return err
	}
	s.sendCount(w, req.r, int64(h.Sessions))
	return nil
}

// session reads one session after checking its record (retention).
func (s *Server) session(req *request, segments bool) (*callvault.SessionRow, error) {
	if s.Retention > 0 {
		if _, err := s.record(req.r.Context(), req, req.key(0)); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	row, err := s.Store.GetSession(req.r.Context(), req.principal.Tenant, req.key(0), req.key(1), segments)
	storeTime(req.r, t0)
	if callvault.ErrorCode(err) == callvault.ENOTFOUND {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "The session '%s' of callRecord '%s' was not found.", req.key(1), req.key(0))
	}
	return row, err
}

// getSession serves GET …/callRecords/{id}/sessions/{id}.
func (s *Server) getSession(w http.ResponseWriter, req *request) error {
	session := req.entityType("session")
	q, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, session, sessionItemRules)
	if err != nil {
		return err
	}
	row, err := s.session(req, q.Expanded("segments") != nil)
	if err != nil {
		return err
	}
	bp := getBuf()
	defer putBuf(bp)
	b := s.appendSessions((*bp)[:0], req, []callvault.SessionRow{*row}, q)
	b = withContext(b, s.metadata(req.version)+"communications/callRecords"+odata.KeySegment(req.key(0))+"/sessions"+q.Clause()+"/$entity")
	*bp = b
	s.send(w, req.r, b, req.prefs.Applied(0))
	return nil
}

// listSegments serves GET …/sessions/{id}/segments: every segment of the
// session (a session has a handful), in their imported order.
func (s *Server) listSegments(w http.ResponseWriter, req *request) error {
	segment := req.entityType("segment")
	q, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, segment, segmentsListRules)
	if err != nil {
		return err
	}
	row, err := s.session(req, true)
	if err != nil {
		return err
	}
	bodies := make([][]byte, len(row.Segments))
	for i, seg := range row.Segments {
		bodies[i] = seg.Body
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"@odata.context":`...)
	b = odata.AppendString(b, s.metadata(req.version)+"communications/callRecords"+odata.KeySegment(req.key(0))+"/sessions"+odata.KeySegment(req.key(1))+"/segments")
	if q.Count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, int64(len(bodies)), 10)
	}
	b = append(b, `,"value":`...)
	b = req.codec.Collection(b, segment, bodies, nil, options(req.prefs))
	b = append(b, '}')
	*bp = b
	s.send(w, req.r, b, req.prefs.Applied(0))
	return nil
}

// countSegments serves GET …/sessions/{id}/segments/$count.
func (s *Server) countSegments(w http.ResponseWriter, req *request) error {
	if _, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, req.entityType("segment"), plainRules); err != nil {
		return err
	}
	row, err := s.session(req, true)
	if err != nil {
		return err
	}
	s.sendCount(w, req.r, int64(len(row.Segments)))
	return nil
}

// getSegment serves GET …/sessions/{id}/segments/{id}.
func (s *Server) getSegment(w http.ResponseWriter, req *request) error {
	segment := req.entityType("segment")
	if _, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, segment, plainRules); err != nil {
		return err
	}
	row, err := s.session(req, true)
	if err != nil {
		return err
	}
	for _, seg := range row.Segments {
		if seg.ID != req.key(2) {
			continue
		}
		bp := getBuf()
		defer putBuf(bp)
		b := req.codec.Object((*bp)[:0], segment, seg.Body, nil, options(req.prefs), false)
		b = withContext(b, s.metadata(req.version)+"communications/callRecords"+odata.KeySegment(req.key(0))+"/sessions"+odata.KeySegment(req.key(1))+"/segments/$entity")
		*bp = b
		s.send(w, req.r, b, req.prefs.Applied(0))
		return nil
	}
	return callvault.Errorf(callvault.ENOTFOUND, "The segment '%s' of session '%s' was not found.", req.key(2), req.key(1))
}

// listParticipants serves GET …/callRecords/{id}/participants_v2, in pages
// of at most 130.
func (s *Server) listParticipants(w http.ResponseWriter, req *request) error {
	r := req.r
	participant := req.entityType("participant")
	q, err := odata.ParseQuery(r.URL.RawQuery, req.version, participant, participantRules)
	if err != nil {
		return err
	}
	id := req.key(0)
	var count int64
	if q.Count || s.Retention > 0 {
		h, err := s.record(r.Context(), req, id)
		if err != nil {
			return err
		}
		count = int64(h.Participants)
	}
	resource := "callRecords" + odata.KeySegment(id) + "/participants_v2"
	scope := odata.Scope{Tenant: req.principal.Tenant, Resource: resource, Version: req.version, Shape: q.Clause()}
	var after odata.Position
	if q.SkipToken != "" {
		if after, err = s.Cursors.Open(scope, q.SkipToken); err != nil {
			return err
		}
	}
	size := req.prefs.PageSize(ParticipantsPage)
	t0 := time.Now()
	page, err := s.Store.ListParticipants(r.Context(), callvault.ParticipantQuery{Tenant: req.principal.Tenant, RecordID: id, After: after.N, Limit: size})
	storeTime(r, t0)
	if callvault.ErrorCode(err) == callvault.ENOTFOUND {
		return recordNotFound(id)
	} else if err != nil {
		return err
	}
	bodies := make([][]byte, len(page.Participants))
	for i, p := range page.Participants {
		bodies[i] = p.Body
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"@odata.context":`...)
	b = odata.AppendString(b, s.metadata(req.version)+"communications/"+resource+q.Clause())
	if q.Count {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, count, 10)
	}
	b = append(b, `,"value":`...)
	b = req.codec.Collection(b, participant, bodies, q.Select, options(req.prefs))
	if page.More {
		tok := s.Cursors.Seal(scope, odata.Position{N: page.Participants[len(page.Participants)-1].Seq})
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, s.PublicURL+r.URL.EscapedPath()+"?"+q.NextQuery(tok))
	}
	b = append(b, '}')
	*bp = b
	s.send(w, r, b, req.prefs.Applied(size))
	return nil
}

// countParticipants serves GET …/participants_v2/$count.
func (s *Server) countParticipants(w http.ResponseWriter, req *request) error {
	if _, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, req.entityType("participant"), plainRules); err != nil {
		return err
	}
	h, err := s.record(req.r.Context(), req, req.key(0))
	if err != nil {
		return err
	}
	s.sendCount(w, req.r, int64(h.Participants))
	return nil
}

// getParticipant serves GET …/participants_v2/{id}.
func (s *Server) getParticipant(w http.ResponseWriter, req *request) error {
	participant := req.entityType("participant")
	q, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, participant, participantItemRules)
	if err != nil {
		return err
	}
	if s.Retention > 0 {
		if _, err := s.record(req.r.Context(), req, req.key(0)); err != nil {
			return err
		}
	}
	t0 := time.Now()
	row, err := s.Store.GetParticipant(req.r.Context(), req.principal.Tenant, req.key(0), req.key(1))
	storeTime(req.r, t0)
	if callvault.ErrorCode(err) == callvault.ENOTFOUND {
		return callvault.Errorf(callvault.ENOTFOUND, "The participant '%s' of callRecord '%s' was not found.", req.key(1), req.key(0))
	} else if err != nil {
		return err
	}
	bp := getBuf()
	defer putBuf(bp)
	b := req.codec.Object((*bp)[:0], participant, row.Body, q.Select, options(req.prefs), false)
	b = withContext(b, s.metadata(req.version)+"communications/callRecords"+odata.KeySegment(req.key(0))+"/participants_v2"+q.Clause()+"/$entity")
	*bp = b
	s.send(w, req.r, b, req.prefs.Applied(0))
	return nil
}

// getOrganizer serves GET …/callRecords/{id}/organizer_v2.
func (s *Server) getOrganizer(w http.ResponseWriter, req *request) error {
	organizer := req.entityType("organizer")
	q, err := odata.ParseQuery(req.r.URL.RawQuery, req.version, organizer, participantItemRules)
	if err != nil {
		return err
	}
	h, err := s.record(req.r.Context(), req, req.key(0))
	if err != nil {
		return err
	}
	if h.Organizer == nil {
		return callvault.Errorf(callvault.ENOTFOUND, "The callRecord '%s' has no organizer_v2.", req.key(0))
	}
	bp := getBuf()
	defer putBuf(bp)
	b := req.codec.Object((*bp)[:0], organizer, h.Organizer, q.Select, options(req.prefs), false)
	b = withContext(b, s.metadata(req.version)+"communications/callRecords"+odata.KeySegment(req.key(0))+"/organizer_v2"+q.Clause()+"/$entity")
	*bp = b
	s.send(w, req.r, b, req.prefs.Applied(0))
	return nil
}
