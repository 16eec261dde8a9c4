package graph

import (
	"net/http"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
)

// graphErrors is the one table from callvault error codes to Graph's
// statuses and error codes (docs/graph-fidelity.md says why each).
var graphErrors = map[string]struct {
	status int
	code   string
}{
	callvault.EINVALID:        {http.StatusBadRequest, "BadRequest"},
	callvault.EUNAUTHORIZED:   {http.StatusUnauthorized, "InvalidAuthenticationToken"},
	callvault.EFORBIDDEN:      {http.StatusForbidden, "Forbidden"},
	callvault.ENOTFOUND:       {http.StatusNotFound, "NotFound"},
	callvault.ENOTIMPLEMENTED: {http.StatusNotImplemented, "NotImplemented"},
	callvault.EINTERNAL:       {http.StatusInternalServerError, "InternalServerError"},
	callvault.EFULL:           {http.StatusInsufficientStorage, "InsufficientStorage"},
	callvault.EUNAVAILABLE:    {http.StatusServiceUnavailable, "ServiceUnavailable"},
}

// methodNotAllowed is the one error that has no domain code: the HTTP layer
// alone knows which methods a path takes.
const methodNotAllowed = "method_not_allowed"

func init() {
	graphErrors[methodNotAllowed] = struct {
		status int
		code   string
	}{http.StatusMethodNotAllowed, "MethodNotAllowed"}
}

// writeError writes err in Graph's error envelope:
//
//	{"error":{"code":…,"message":…,"innerError":{"date":…,"request-id":…,"client-request-id":…}}}
//
// Internal errors are logged with the request id; their detail is not sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := callvault.ErrorCode(err)
	e, ok := graphErrors[code]
	if !ok {
		e = graphErrors[callvault.EINTERNAL]
	}
	ids := requestIDs(r.Context())
	switch code {
	case callvault.EINTERNAL:
		s.Logger.ErrorContext(r.Context(), "internal error", "request_id", ids.request, "err", err)
	case callvault.EUNAVAILABLE:
		s.Logger.WarnContext(r.Context(), "database unavailable", "request_id", ids.request, "err", err)
		w.Header().Set("Retry-After", "5")
	case callvault.EFULL:
		s.Logger.ErrorContext(r.Context(), "storage full: the store refused a write for lack of room; free space where the database lives",
			"request_id", ids.request, "err", err)
	}
	b := appendEnvelope(make([]byte, 0, 256), e.code, callvault.ErrorMessage(err), s.now(), ids)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Preference-Applied")
	if e.status == http.StatusUnauthorized {
		h["WWW-Authenticate"] = []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`}
	}
	s.writeComplete(w, r, e.status, b)
}

// maxMessage bounds an error message: messages quote inputs clipped, and
// this is the net under any that does not.
const maxMessage = 1024

// boundMessage bounds m as the envelope writes it: bytes that are not
// UTF-8 and control characters are written six bytes each, so a message of
// 1,024 such bytes echoed from a request once made an error of 6 KB
// (FuzzRequest).
func boundMessage(m string) string { return odata.ClipWritten(m, maxMessage) }

// appendEnvelope appends Graph's error envelope.
func appendEnvelope(b []byte, code, message string, now time.Time, ids ids) []byte {
	b = append(b, `{"error":{"code":`...)
	b = odata.AppendString(b, code)
	b = append(b, `,"message":`...)
	b = odata.AppendString(b, boundMessage(message))
	b = append(b, `,"innerError":{"date":`...)
	// Graph writes the date without fraction or zone.
	b = odata.AppendString(b, now.UTC().Format("2006-01-02T15:04:05"))
	b = append(b, `,"request-id":`...)
	b = odata.AppendString(b, ids.request)
	b = append(b, `,"client-request-id":`...)
	b = odata.AppendString(b, ids.client)
	return append(b, "}}}"...)
}
