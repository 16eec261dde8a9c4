package graph

import (
	"net/http"
	"strings"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/odata"
)

// Gate is asked about every authenticated request under /v1.0 and /beta,
// subscriptions included, before it is served (Server.Gate); $metadata,
// which needs no token, and callvault's own endpoints never reach it. It
// returns nil to serve the request. It may wait first (emulated latency),
// and must return when ctx is done.
type Gate func(r *http.Request, g GateRequest) *Refusal

// GateRequest is what a Gate knows of the request besides the request
// itself.
type GateRequest struct {
	Version   string          // v1.0 or beta
	Path      string          // the escaped path after /{version}/
	Principal *auth.Principal // the verified token
	RequestID string          // the request-id header sent back
}

// Refusal is what is written instead of the resource.
type Refusal struct {
	// Status is the HTTP status; 429 writes Graph's throttling body.
	Status int
	// Code and Message go in the error envelope (Graph's, as for every
	// error); a 429 ignores them. An empty Message is written empty.
	Code, Message string
	// RetryAfter is the Retry-After header's value; "" sends none.
	RetryAfter string
	// Drop closes the connection without an answer.
	Drop bool
	// NotYetThere, with Status 0 and no Drop, is not a refusal: the request
	// is served, and a list (or count) of call records leaves out those that
	// ended after this time, as Graph's list lacks a record it has not
	// written yet (a faults rule's notYetThere).
	NotYetThere time.Time
}

// gate runs s.Gate and writes its refusal; it reports whether the request
// was answered.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, version, prefix string, p *auth.Principal) bool {
	ids := requestIDs(r.Context())
	ref := s.Gate(r, GateRequest{Version: version, Path: strings.TrimPrefix(r.URL.EscapedPath(), prefix), Principal: p, RequestID: ids.request})
	if ref == nil {
		return false
	}
	if ref.Status == 0 && !ref.Drop {
		if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
			st.endedBy = ref.NotYetThere
		}
		return false
	}
	if ref.Drop {
		panic(http.ErrAbortHandler) // net/http closes the connection without a response
	}
	if ref.Status != http.StatusTooManyRequests {
		if ref.RetryAfter != "" {
			w.Header().Set("Retry-After", ref.RetryAfter)
		}
		s.writeEnvelope(w, r, ref.Status, ref.Code, ref.Message)
		return true
	}
	// The member order is that of the example on
	// learn.microsoft.com/graph/throttling (code, innerError, message;
	// innerError's code, date, message, request-id, status), with
	// client-request-id after request-id as in every other callvault error
	// (docs/throttling.md).
	b := make([]byte, 0, 256)
	b = append(b, `{"error":{"code":"TooManyRequests","innerError":{"code":"429","date":`...)
	b = odata.AppendString(b, s.now().UTC().Format("2006-01-02T15:04:05"))
	b = append(b, `,"message":"Please retry after","request-id":`...)
	b = odata.AppendString(b, ids.request)
	b = append(b, `,"client-request-id":`...)
	b = odata.AppendString(b, ids.client)
	b = append(b, `,"status":"429"},"message":"Please retry again later."}}`...)
	s.writeBody(w, r, http.StatusTooManyRequests, ref.RetryAfter, b)
	return true
}

// writeEnvelope writes Graph's error envelope with a status and code of
// the gate's choosing (the error table maps callvault's codes only).
func (s *Server) writeEnvelope(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	b := appendEnvelope(make([]byte, 0, 256), code, message, s.now(), requestIDs(r.Context()))
	s.writeBody(w, r, status, "", b)
}

func (s *Server) writeBody(w http.ResponseWriter, r *http.Request, status int, retryAfter string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	s.writeComplete(w, r, status, b)
}
