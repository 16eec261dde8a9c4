package auth

import (
	"os"
	"sync/atomic"
	"time"
)

// CachedTokens returns how many tokens v's cache holds (0 without a cache).
func CachedTokens(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// SetStatEvery sets how often a Signer stats its key file when the change
// counter says nothing changed, and returns what restores it.
func SetStatEvery(d time.Duration) (restore func()) {
	old := statEvery.Swap(int64(d))
	return func() { statEvery.Store(old) }
}

// CountKeyFileStats counts the stats of key files until restore.
func CountKeyFileStats() (n func() int64, restore func()) {
	var count atomic.Int64
	old := statKeyFile
	statKeyFile = func(name string) (os.FileInfo, error) {
		count.Add(1)
		return old(name)
	}
	return count.Load, func() { statKeyFile = old }
}
