package graph

import (
	"bytes"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipMinSize is the smallest body sent compressed: below it the gzip
// header and trailer (18 bytes) and the CPU outweigh what is saved. Graph's
// error envelopes (about 250 to 400 bytes) are above it.
const gzipMinSize = 256

// gzipLevel is the compression level, of klauspost/compress's gzip (the
// standard library's takes two and a half times as long for the same
// size). On a page of 60 sessions with segments (809 KB of JSON) level 6
// takes about 2.4 ms and makes 62 KB, within 5 % of gzip -6
// (docs/performance.md, "Compressed responses"). The cache below pays it
// once for a page read again.
const gzipLevel = 6

// acceptsGzip reports whether the Accept-Encoding values of a request
// accept gzip (RFC 9110, 12.5.3): "gzip" or "x-gzip" with a q-value above
// 0, or "*" above 0 when gzip is not named. "gzip;q=0" refuses it; an
// absent header and "identity" ask for the plain bytes.
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.TrimSpace(coding)
			switch {
			case strings.EqualFold(coding, "gzip"), strings.EqualFold(coding, "x-gzip"):
				return qPositive(params)
			case coding == "*":
				star = qPositive(params)
			}
		}
	}
	return star
}

// qPositive reports whether the parameters of a coding ("q=0.5", or none)
// give it a weight above zero. A malformed weight counts as 1, as most
// servers read it.
func qPositive(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return true
		}
		return q > 0
	}
	return true
}

// writeComplete writes a whole response: status, Content-Length and body,
// compressed with gzip when the request accepts it and the body is at
// least gzipMinSize. The caller has set the other headers. Every response
// that could be compressed says Vary: Accept-Encoding, compressed or not.
func (s *Server) writeComplete(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	if len(body) >= gzipMinSize && status != http.StatusNoContent && status != http.StatusNotModified {
		h["Vary"] = appendVary(h["Vary"])
		if acceptsGzip(r.Header.Values("Accept-Encoding")) {
			z, zp := s.gzipped(r, body)
			if zp != nil {
				defer putBuf(zp)
			}
			body = z
			h["Content-Encoding"] = []string{"gzip"}
		}
	}
	s.writeSized(w, r, status, body)
}

// writeSized writes status, Content-Length and body (none for HEAD); the
// caller has set the other headers.
func (s *Server) writeSized(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		if _, err := w.Write(body); err != nil {
			s.Logger.DebugContext(r.Context(), "write response", "request_id", requestIDs(r.Context()).request, "err", err)
		}
	}
}

func appendVary(vary []string) []string {
	for _, v := range vary {
		if strings.Contains(strings.ToLower(v), "accept-encoding") {
			return vary
		}
	}
	return append(vary, "Accept-Encoding")
}

// gzipped returns body compressed: from the server's cache of compressed
// responses for a large body (pooled is then nil), else in a pooled buffer
// the caller returns with putBuf.
func (s *Server) gzipped(r *http.Request, body []byte) (z []byte, pooled *[]byte) {
	if len(body) < gzipCacheMin {
		zp := getBuf()
		*zp = compressInto((*zp)[:0], body)
		return *zp, zp
	}
	key := s.gzipCache.key(requestInfo(r).Tenant, body)
	if z, ok := s.gzipCache.get(key); ok {
		return z, nil
	}
	z = compressed(body)
	s.gzipCache.put(key, z)
	return z, nil
}

// compressed returns the gzip stream of body in a slice of exactly its
// size, for a cache that counts what it holds.
func compressed(body []byte) []byte {
	zp := getBuf()
	defer putBuf(zp)
	*zp = compressInto((*zp)[:0], body)
	return bytes.Clone(*zp)
}

// gzipWriters are reused: a gzip.Writer holds about 800 KB of state.
var gzipWriters = sync.Pool{New: func() any {
	z, _ := gzip.NewWriterLevel(nil, gzipLevel)
	return z
}}

// sliceWriter appends what is written to a slice.
type sliceWriter struct{ b []byte }

func (sw *sliceWriter) Write(p []byte) (int, error) {
	sw.b = append(sw.b, p...)
	return len(p), nil
}

// compressInto appends the gzip stream of body to dst. The header carries
// no name and no time, so that the same body always compresses to the same
// bytes.
func compressInto(dst, body []byte) []byte {
	sw := &sliceWriter{b: dst}
	if need := len(dst) + len(body)/4 + 64; cap(sw.b) < need {
		sw.b = append(make([]byte, 0, need), dst...)
	}
	z := gzipWriters.Get().(*gzip.Writer)
	z.Reset(sw)
	z.Write(body) // a sliceWriter never fails
	z.Close()
	z.Reset(nil) // hold no reference to the response
	gzipWriters.Put(z)
	return sw.b
}

// gzipCacheMin is the smallest body whose compressed form is cached:
// compressing a body costs about 30 times as much as hashing it only for
// the large ones (a page with segments); small ones are compressed anew.
const gzipCacheMin = 32 << 10

// gzipCacheBytes bounds the compressed bytes the cache holds.
const gzipCacheBytes = 16 << 20

// gzipCache remembers the compressed form of large response bodies, keyed
// by a hash of the plain bytes with a seed chosen at random when the
// process starts (so no client can aim at a collision), the body's length
// and the tenant (so that no tenant learns from timing what another was
// sent). What it returns is a function of the bytes just rendered: a
// stale entry is impossible, and a changed record simply misses.
type gzipCache struct {
	once  sync.Once
	seed  maphash.Seed
	cache boundedCache[gzipKey, []byte]
}

type gzipKey struct {
	tenant string
	sum    uint64
	n      int
}

func (c *gzipCache) key(tenant string, body []byte) gzipKey {
	c.once.Do(func() { c.seed = maphash.MakeSeed() })
	return gzipKey{tenant, maphash.Bytes(c.seed, body), len(body)}
}

func (c *gzipCache) get(k gzipKey) ([]byte, bool) { return c.cache.get(k) }

// put keeps z, which no one may change any more, evicting arbitrary
// entries to stay within gzipCacheBytes.
func (c *gzipCache) put(k gzipKey, z []byte) {
	if len(z) > gzipCacheBytes/8 {
		return
	}
	c.cache.put(k, z, len(z), gzipCacheBytes, false)
}
