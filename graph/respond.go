package graph

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// getBuf and putBuf share response buffers between requests; a page is
// bounded, so one buffer per request in flight is all it costs.
func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= 4<<20 { // keep the pool from holding on to huge pages
		bufPool.Put(bp)
	}
}

// send writes a complete JSON response.
func (s *Server) send(w http.ResponseWriter, r *http.Request, body []byte, applied string) {
	setJSONHeaders(w.Header(), applied)
	s.writeComplete(w, r, http.StatusOK, body)
}

// setJSONHeaders sets the headers of an OData JSON response, and the
// preferences it applied when not "".
func setJSONHeaders(h http.Header, applied string) {
	h.Set("Content-Type", odata.ContentType)
	h["OData-Version"] = []string{"4.0"}
	if applied != "" {
		h.Set("Preference-Applied", applied)
	}
}

// sendCount answers a /$count path: the number as plain text, as OData
// defines it.
func (s *Server) sendCount(w http.ResponseWriter, r *http.Request, n int64) {
	body := strconv.FormatInt(n, 10)
	h := w.Header()
	h.Set("Content-Type", "text/plain;charset=utf-8")
	h["OData-Version"] = []string{"4.0"}
	s.writeComplete(w, r, http.StatusOK, []byte(body))
}

// metadata is the start of every context URL of a version.
func (s *Server) metadata(version string) string {
	return s.PublicURL + "/" + version + "/$metadata#"
}

// notBefore is the retention horizon: records that ended before it are
// gone, as they are from Graph after 30 days. Zero keeps everything.
func (s *Server) notBefore() time.Time {
	if s.Retention <= 0 {
		return time.Time{}
	}
	return s.now().Add(-s.Retention)
}

// record returns a record's header, or the 404 Graph gives for a record that
// does not exist, belongs to another tenant or is past retention.
func (s *Server) record(ctx context.Context, req *request, id string) (*callvault.RecordHeader, error) {
	t0 := time.Now()
	h, err := s.Store.GetRecord(ctx, req.principal.Tenant, id)
	storeTime(req.r, t0)
	if callvault.ErrorCode(err) == callvault.ENOTFOUND || (err == nil && s.expired(h)) {
		return nil, recordNotFound(id)
	}
	return h, err
}

func (s *Server) expired(h *callvault.RecordHeader) bool {
	nb := s.notBefore()
	return !nb.IsZero() && h.EndDateTime.Before(nb)
}

func recordNotFound(id string) error {
	return callvault.Errorf(callvault.ENOTFOUND, "The callRecord '%s' was not found.", odata.Clip(id))
}

// entityType returns a callRecords type of the request's version.
func (req *request) entityType(name string) *schema.Type {
	return req.codec.Model.Type(schema.CallRecordsNamespace + "." + name)
}

// options are the encoder options of the request's preferences.
func options(p odata.Preferences) odata.Options {
	return odata.Options{OmitNulls: p.OmitNulls, IncludeUnknownEnums: p.IncludeUnknownEnums}
}

// escapeSegment escapes an id for a path segment of a link.
func escapeSegment(id string) string { return url.PathEscape(id) }

// nanosFromTime is a time as a cursor keeps it: nanoseconds since 1970, and
// the smallest int64 for no time (UnixNano is undefined for the zero time).
func nanosFromTime(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// timeFromNanos is the inverse of nanosFromTime, in UTC.
func timeFromNanos(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
