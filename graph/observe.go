package graph

import (
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault/ingest"
)

// RequestInfo is what serving one request learned, for its access log line
// and for metrics (Server.Observe).
type RequestInfo struct {
	// Route is the pattern the request matched, never its raw path, so
	// that a metric labelled with it stays bounded: for the API the
	// resource's shape after the version ("communications/callRecords/{}/sessions",
	// "subscriptions/{}", "$metadata"), else the probe's path or Extra's
	// pattern ("POST /ingest/..."). "" when it matched none (a 404, a
	// request refused before its path was resolved, such as a bad token).
	Route   string
	Version string // "v1.0" or "beta" under the API, else ""
	Tenant  string // the tenant of the verified token; "" before (or without) one
	Method  string
	Status  int // 0 if nothing was written
	Bytes   int // of the response body
	// Duration is from the request's arrival in the handler to the end of
	// its handler.
	Duration time.Duration
	// Store is the part of Duration spent in the store's methods; 0 for a
	// request that asked the store nothing. A page of sessions that the
	// store hands to the writer as it reads (callvault.SessionPageVisitor)
	// counts its writing too.
	Store time.Duration
}

// requestInfo returns the request's RequestInfo to fill in, or a throwaway
// one when the request did not pass through the middleware (unit tests of
// a handler).
func requestInfo(r *http.Request) *RequestInfo {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return &st.info
	}
	return &RequestInfo{}
}

// storeTime adds the time since start to the request's RequestInfo.Store:
// call it after each call of a store method.
func storeTime(r *http.Request, start time.Time) { requestInfo(r).Store += time.Since(start) }

// noteRoute records the pattern r matched (RequestInfo.Route).
func noteRoute(r *http.Request, route string) { requestInfo(r).Route = route }

// subscriptionRoute is the route of a path under /subscriptions, without
// its ids; "" for a path that is none of the subscriptions API.
func subscriptionRoute(rest string) string {
	switch parts := strings.Split(rest, "/"); {
	case len(parts) == 1:
		return "subscriptions"
	case len(parts) == 2:
		return "subscriptions/{}"
	case len(parts) == 3 && parts[2] == "reauthorize":
		return "subscriptions/{}/reauthorize"
	}
	return ""
}

// IngestCounters count what the ingest API stored since the server
// started, across its requests: the totals of ingest.Stats.
type IngestCounters struct {
	Requests, Records, Inserted, Replaced, Stale, Rejected, Sessions atomic.Int64
}

func (c *IngestCounters) add(s ingest.Stats) {
	c.Requests.Add(1)
	c.Records.Add(int64(s.Records))
	c.Inserted.Add(int64(s.Inserted))
	c.Replaced.Add(int64(s.Replaced))
	c.Stale.Add(int64(s.Stale))
	c.Rejected.Add(int64(s.Rejected))
	c.Sessions.Add(int64(s.Sessions))
}
