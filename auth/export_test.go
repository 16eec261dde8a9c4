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

// HoldSecretChecks replaces the PBKDF2 check of client secrets until
// restore: each check is counted, then waits for release to be closed.
func HoldSecretChecks() (n func() int64, release chan struct{}, restore func()) {
	var count atomic.Int64
	release = make(chan struct{})
	old := checkSecretHash
	checkSecretHash = func(secret, hash string) bool {
		count.Add(1)
		<-release
		return old(secret, hash)
	}
	return count.Load, release, func() { checkSecretHash = old }
}

// MaxSecretChecks is maxSecretChecks.
const MaxSecretChecks = maxSecretChecks

// SecretChecksInFlight returns how many checks of client secrets a's
// Authenticate has in flight, running or waiting for a core.
func SecretChecksInFlight(a *Apps) int {
	a.checks.mu.Lock()
	defer a.checks.mu.Unlock()
	return len(a.checks.inFlight)
}
