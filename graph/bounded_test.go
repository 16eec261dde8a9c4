package graph

import "testing"

// TestBoundedCacheStaysWithinItsBytes: puts evict until the new value fits,
// an existing key is replaced or kept as asked, and drop gives its bytes
// back.
func TestBoundedCacheStaysWithinItsBytes(t *testing.T) {
	var c boundedCache[int, string]
	for k := range 10 {
		c.put(k, "v", 30, 100, false)
		if c.size() > 100 {
			t.Fatalf("%d bytes after %d puts, the bound is 100", c.size(), k+1)
		}
	}
	if n := len(c.entries); n != 3 || c.size() != 90 {
		t.Fatalf("%d entries, %d bytes; want 3 of 30", n, c.size())
	}
	if v, ok := c.get(9); !ok || v != "v" {
		t.Fatalf("the last put is gone: %q %v", v, ok)
	}
	c.put(9, "kept?", 10, 100, false)
	if v, _ := c.get(9); v != "v" || c.size() != 90 {
		t.Errorf("without replace: %q, %d bytes", v, c.size())
	}
	c.put(9, "new", 10, 100, true)
	if v, _ := c.get(9); v != "new" || c.size() != 70 {
		t.Errorf("with replace: %q, %d bytes", v, c.size())
	}
	c.drop(9)
	if _, ok := c.get(9); ok || c.size() != 60 {
		t.Errorf("after drop: %v, %d bytes", ok, c.size())
	}
	c.drop(9)
	if c.size() != 60 {
		t.Errorf("a second drop: %d bytes", c.size())
	}
}
