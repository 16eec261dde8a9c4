package graph

import "sync"

// boundedCache is a map whose values are bounded by their bytes in all: a
// put evicts arbitrary entries (in map order, about random) until the new
// one fits. The cache of compressed bodies (compress.go) and the kept
// pages (pagecache.go) are one each. Its zero value is ready to use, and
// it is safe for concurrent use.
type boundedCache[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]sizedValue[V]
	bytes   int
}

type sizedValue[V any] struct {
	v V
	n int // its bytes
}

// get returns the value of k, if any.
func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	return e.v, ok
}

// put keeps v, of n bytes, under k, and evicts other entries to stay
// within limit bytes. An entry k already has is replaced when replace is
// set, else kept (and v is not).
func (c *boundedCache[K, V]) put(k K, v V, n, limit int, replace bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[K]sizedValue[V]{}
	}
	if old, ok := c.entries[k]; ok {
		if !replace {
			return
		}
		c.bytes -= old.n
		delete(c.entries, k)
	}
	for old, e := range c.entries {
		if c.bytes+n <= limit {
			break
		}
		delete(c.entries, old)
		c.bytes -= e.n
	}
	c.entries[k] = sizedValue[V]{v, n}
	c.bytes += n
}

// drop forgets k.
func (c *boundedCache[K, V]) drop(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.bytes -= e.n
		delete(c.entries, k)
	}
}

// size returns the bytes the values hold.
func (c *boundedCache[K, V]) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
