package graph

import (
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/callvault/callvault/odata"
)

// pageCache keeps the gzip responses of large pages of sessions, each with
// the stamp of the record it was rendered from (callvault.SessionPage.Stamp),
// so that a page asked again is answered from memory once the store has
// said, by one row, that the record still has that stamp: the read of the
// sessions, their rendering and the compression (some 2.4 ms for a page of
// 60 with segments) are skipped. A page depends on nothing else that can
// change while the process runs: its key holds the tenant, the request's
// path and query (the record, the $skiptoken's position, $select, $expand,
// $count), its Prefer headers, and the codec (the version, and the
// schema's drift as the server knew it). Only pages compressed for a client
// that accepts gzip are kept: they are what every official client asks for,
// where compressing costs most, and a tenth the size of the plain bytes.
// Server.PageCacheLimit bounds them.
//
// A stamp of 0 (a record stored before stamps were kept, or a store that
// keeps none) is never cached: 0 does not change with a write.
type pageCache struct {
	boundedCache[pageKey, pageEntry]
}

// PageCacheCounters count what became of the requests for large
// compressed pages of sessions (pagecache.go), for the metrics.
type PageCacheCounters struct {
	Hits  atomic.Int64 // sent from memory: the record still had the kept page's stamp
	Stale atomic.Int64 // a page was kept, but the record had been written since: read anew
	Kept  atomic.Int64 // pages compressed and kept
}

// PageCacheBytes returns the compressed bytes the kept pages hold.
func (s *Server) PageCacheBytes() int64 {
	return int64(s.pages.size())
}

type pageKey struct {
	tenant, path, query, prefer string
	codec                       *odata.Codec
}

type pageEntry struct {
	stamp int64
	z     []byte // the gzip body, which no one changes
}

// DefaultPageCacheLimit is Server.PageCacheLimit's default: some 500 pages
// of 60 sessions with segments.
const DefaultPageCacheLimit = 32 << 20

// pageCacheLimit is the bound of the kept pages' bytes; 0 keeps none.
func (s *Server) pageCacheLimit() int {
	switch {
	case s.PageCacheLimit < 0:
		return 0
	case s.PageCacheLimit == 0:
		return DefaultPageCacheLimit
	}
	return s.PageCacheLimit
}

func newPageKey(req *request) pageKey {
	r := req.r
	return pageKey{tenant: req.principal.Tenant, path: r.URL.EscapedPath(), query: r.URL.RawQuery,
		prefer: strings.Join(r.Header.Values("Prefer"), "\n"), codec: req.codec}
}

// put keeps z as the page of k at stamp, replacing what k had, and evicts
// arbitrary entries to stay within limit bytes. A page larger than a
// sixteenth of limit is not kept; put reports whether z was.
func (c *pageCache) put(k pageKey, stamp int64, z []byte, limit int) (kept bool) {
	if stamp == 0 || len(z) > limit/16 {
		return false
	}
	c.boundedCache.put(k, pageEntry{stamp: stamp, z: z}, len(z), limit, true)
	return true
}

// sendGzip sends z, a gzip body, as send sends a plain one.
func (s *Server) sendGzip(w http.ResponseWriter, r *http.Request, z []byte, applied string) {
	h := w.Header()
	setJSONHeaders(h, applied)
	h["Vary"] = appendVary(h["Vary"])
	h["Content-Encoding"] = []string{"gzip"}
	s.writeSized(w, r, http.StatusOK, z)
}
