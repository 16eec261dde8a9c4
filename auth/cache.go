package auth

import (
	"crypto/sha256"
	"hash"
	"sync"
	"time"
	"unsafe"
)

// DefaultTokenCacheSize is how many verified tokens a Verifier remembers
// unless VerifierOptions.CacheSize says otherwise.
const DefaultTokenCacheSize = 4096

// maxCachedAge is how long a cached verdict is served before the token is
// verified in full again, whatever its exp. It bounds the life of a verdict
// should trust change in a way no generation tracks, and lets a stream of
// cached tokens still trigger the periodic refetch of remote keys.
const maxCachedAge = 5 * time.Minute

// tokenCache remembers tokens that verified, so that the RS256 check is paid
// once per token rather than once per request. It is keyed on the SHA-256 of
// the whole token: any change to any byte is another key, and no token
// material is kept or compared. Only tokens that verified are stored; a bad
// token costs the full check every time.
//
// Each entry records the trust generation of the Verifier's key source when
// its verification began. A hit is served only while that generation is
// current, the token's exp and nbf still hold (with the Verifier's skew)
// and the entry is younger than maxCachedAge; otherwise it is dropped and
// the token verified in full, which also gives the precise error.
//
// The cache holds at most max entries; adding one to a full cache evicts an
// arbitrary one (the first a map iteration yields, which Go randomises).
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[tokenKey]cacheEntry
}

type tokenKey [sha256.Size]byte

type cacheEntry struct {
	p         *Principal
	gen       uint64    // the key source's generation when verification began
	notAfter  time.Time // exp + skew: served while now is before it
	notBefore time.Time // nbf - skew (zero without nbf): served unless now is before it
	verified  time.Time // when the token was verified
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[tokenKey]cacheEntry, min(max, 1024))}
}

// hashers are reused so that keying a token allocates nothing.
var hashers = sync.Pool{New: func() any { return &tokenHasher{h: sha256.New()} }}

type tokenHasher struct {
	h   hash.Hash
	sum tokenKey
}

// keyOf returns the cache key of token: its SHA-256.
func keyOf(token string) tokenKey {
	th := hashers.Get().(*tokenHasher)
	th.h.Reset()
	// The string's bytes without a copy: a hash reads its input and keeps
	// no reference to it.
	th.h.Write(unsafe.Slice(unsafe.StringData(token), len(token)))
	th.h.Sum(th.sum[:0])
	k := th.sum
	hashers.Put(th)
	return k
}

// get returns the principal of a cached token if the entry may be served
// now under generation gen. An entry that may not is dropped.
func (c *tokenCache) get(k *tokenKey, gen uint64, now time.Time) (*Principal, bool) {
	c.mu.RLock()
	e, ok := c.entries[*k]
	c.mu.RUnlock()
	if !ok {
		return nil, false
	}
	if age := now.Sub(e.verified); e.gen == gen && now.Before(e.notAfter) && !now.Before(e.notBefore) && age >= 0 && age < maxCachedAge {
		return e.p, true
	}
	c.mu.Lock()
	if cur, ok := c.entries[*k]; ok && cur.p == e.p { // not a newer entry put meanwhile
		delete(c.entries, *k)
	}
	c.mu.Unlock()
	return nil, false
}

// put stores a verified token, evicting an arbitrary entry if the cache is
// full.
func (c *tokenCache) put(k *tokenKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[*k]; !ok && len(c.entries) >= c.max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[*k] = e
}

// clear drops every entry.
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// len returns the number of entries.
func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
