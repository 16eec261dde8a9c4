// Package graph serves the Microsoft Graph callRecords API over HTTP under
// /v1.0 and /beta: routing, authentication, Graph's headers and error
// envelope. Handlers parse the request with package odata, read one page
// from the store and write it with the odata codec.
package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/internal/guid"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// Authenticator verifies bearer tokens.
type Authenticator interface {
	Verify(token string) (*auth.Principal, error)
}

// Server holds what every request needs. Everything in it comes from the
// store or from configuration, so replicas on one store answer alike.
type Server struct {
	Store     callvault.Store
	Auth      Authenticator
	Cursors   odata.Cursors
	PublicURL string // e.g. https://graph.microsoft.com, without a trailing slash
	Logger    *slog.Logger
	Now       func() time.Time // for tests; time.Now when nil
	NewID     func() string    // request ids, for tests; random GUIDs when nil
	Retention time.Duration    // records that ended longer ago are gone (404, absent from lists), as on Graph after 30 days; 0 keeps all
	// Extra serves the requests outside /v1.0 and /beta that match one of
	// its patterns, such as the development issuer's discovery, keys and
	// token endpoints; the others get Graph's 404. Optional.
	Extra *http.ServeMux
	// IngestConcurrency bounds the ingest requests validated and stored at
	// once (each holds up to a record's worth of memory several times over);
	// others wait their turn. 0 means DefaultIngestConcurrency.
	IngestConcurrency int
	// MaxRequests bounds the requests in flight; beyond it a request gets
	// a 503 with Retry-After at once. 0: no bound.
	MaxRequests int
	// WriteStallTimeout is the longest a response may make no progress
	// (a client that stops reading): the write then fails, and the handler
	// and what it holds are freed. A slow reader that keeps reading is
	// never cut off. HTTP/2 streams are bounded by the handler; HTTP/1
	// connections only when the listener wraps them with StallConn (serve
	// does). 0: no timeout.
	WriteStallTimeout time.Duration

	inflight atomic.Int64 // requests in flight, against MaxRequests
	// Subscriptions serves /subscriptions (change notifications) when not
	// nil; without it those paths are a 501.
	Subscriptions *Subscriptions
	// Gate, when set, may refuse, delay or drop each authenticated request
	// under /v1.0 and /beta before it is served: throttling and faults
	// (limit.go). Optional.
	Gate Gate
	// Observe, when set, is called once for each request after it was
	// served, with what the access log line says: for metrics. Optional.
	Observe func(*http.Request, RequestInfo)
	// Ingested counts what the ingest API stored.
	Ingested IngestCounters
	// PageCache counts the large compressed pages of sessions sent from
	// memory (pagecache.go).
	PageCache PageCacheCounters
	// PageCacheLimit bounds the compressed bytes of the pages kept
	// (pagecache.go): 0 is DefaultPageCacheLimit, a negative value keeps
	// none.
	PageCacheLimit int

	codecs    map[string]*odata.Codec
	gzipCache gzipCache // compress.go
	pages     pageCache // pagecache.go

	drifted atomic.Pointer[map[string]*odata.Codec] // drift.go
}

// Roles that may read call records.
const RoleCallRecordsRead = "CallRecords.Read.All"

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.PublicURL = strings.TrimSuffix(s.PublicURL, "/")
	s.codecs = map[string]*odata.Codec{
		schema.V1:   odata.NewCodec(schema.MustLoad(schema.V1)),
		schema.Beta: odata.NewCodec(schema.MustLoad(schema.Beta)),
	}
	// The versions are dispatched by prefix, not by a ServeMux: a mux
	// answers a path with '.', '..' or '//' segments with a redirect of its
	// own, before authentication and outside Graph's envelope.
	apis := map[string]http.Handler{}
	for _, v := range []string{schema.V1, schema.Beta} {
		apis[v] = s.api(v)
	}
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if api, ok := apis[first]; ok && strings.HasPrefix(r.URL.Path, "/"+first) {
			if r.URL.Path == "/"+first { // the version alone: its root
				r = r.Clone(r.Context())
				r.URL.Path, r.URL.RawPath = "/"+first+"/", ""
			}
			api.ServeHTTP(w, r)
			return
		}
		if s.serveProbe(w, r) {
			noteRoute(r, r.URL.Path)
			return
		}
		if s.Extra != nil && !uncleanPath(r.URL.Path) {
			if _, pattern := s.Extra.Handler(r); pattern != "" {
				noteRoute(r, pattern)
				s.Extra.ServeHTTP(w, r) // not the handler itself: ServeHTTP sets the path values
				return
			}
		}
		s.writeError(w, r, callvault.Errorf(callvault.ENOTFOUND, "No resource was found that matches the request URI '%s'. The API is served under /v1.0 and /beta.", odata.ClipTo(r.URL.Path, 256)))
	})
	return s.middleware(root)
}

// uncleanPath reports whether a mux would redirect p to its clean form:
// it has an empty, '.' or '..' segment.
func uncleanPath(p string) bool {
	for seg := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return strings.Contains(p, "//")
}

// newID returns a new GUID: NewID's in tests.
func (s *Server) newID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	return guid.New()
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

type ids struct{ request, client string }

// requestState is what the middleware keeps in a request's context: one
// value, so that a request costs one context and one copy of the request.
type requestState struct {
	ids  ids
	info RequestInfo
	// endedBy, when set (by the Gate: a faults rule's notYetThere), leaves
	// out of lists of call records those that ended after it.
	endedBy time.Time
}

type stateKey struct{}

// endedBy returns the request's requestState.endedBy; zero when none.
func endedBy(r *http.Request) time.Time {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return st.endedBy
	}
	return time.Time{}
}

func requestIDs(ctx context.Context) ids {
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok {
		return st.ids
	}
	return ids{}
}

// middleware gives every response its request-id and client-request-id,
// turns a panic into Graph's 500 envelope, and logs each request.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		newID := s.NewID
		if newID == nil {
			newID = guid.New
		}
		st := &requestState{ids: ids{request: newID()}, info: RequestInfo{Method: r.Method}}
		id, info := &st.ids, &st.info
		id.client = r.Header.Get("client-request-id")
		if id.client == "" || len(id.client) > 128 {
			id.client = id.request
		}
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		// Set by key, not Set(), to keep Graph's spelling on the wire: Go
		// would write Request-Id.
		h := w.Header()
		h["request-id"] = []string{id.request}
		h["client-request-id"] = []string{id.client}
		if s.WriteStallTimeout > 0 && r.ProtoMajor >= 2 { // HTTP/1: StallConn
			sw := newStallWriter(w, s.WriteStallTimeout)
			defer sw.finish()
			w = sw
		}
		rec := &recorder{ResponseWriter: w}
		probe := r.URL.Path == healthPath || r.URL.Path == readyPath // a probe must not fail for load
		if n := s.inflight.Add(1); s.MaxRequests > 0 && n > int64(s.MaxRequests) && !probe {
			s.inflight.Add(-1)
			h.Set("Retry-After", "1")
			s.writeError(rec, r, callvault.Errorf(serverBusy, "The server is handling its maximum of %d requests at once; send this one again in a moment.", s.MaxRequests))
			s.Logger.WarnContext(r.Context(), "request refused: too many in flight", "request_id", id.request, "max_requests", s.MaxRequests)
			if s.Observe != nil {
				info.Status, info.Bytes, info.Duration = rec.status, rec.bytes, s.now().Sub(start)
				s.Observe(r, *info)
			}
			return
		}
		defer s.inflight.Add(-1)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.ErrorContext(r.Context(), "panic", "request_id", id.request, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if rec.status == 0 {
					s.writeError(rec, r, fmt.Errorf("panic: %v", p))
				}
			}
			info.Status, info.Bytes, info.Duration = rec.status, rec.bytes, s.now().Sub(start)
			if s.Logger.Enabled(r.Context(), slog.LevelInfo) {
				s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("request_id", id.request), slog.String("client_request_id", id.client), slog.String("tenant", info.Tenant),
					slog.String("method", r.Method), slog.String("route", info.Route), slog.String("path", r.URL.Path), slog.String("query", r.URL.RawQuery),
					slog.Int("status", rec.status), slog.Int("bytes", rec.bytes), slog.Duration("duration", info.Duration),
					slog.Duration("store", info.Store))
			}
			if s.Observe != nil {
				s.Observe(r, *info)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}
