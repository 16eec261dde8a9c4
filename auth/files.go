package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/callvault/callvault/internal/atomicfile"
)

// Files in the data directory that several processes share (the signing
// keys, the app registry) are replaced whole by a rename, so a reader sees
// the old content or the new, never half of it. Writers take a lock file
// first, so that two commands run at once do not lose each other's change.

const (
	lockWait  = 10 * time.Second // how long a writer waits for another
	lockStale = 30 * time.Second // a lock older than this is left over from a crash
)

// lock takes the lock of path (path + ".lock") and returns its release.
// It is portable (no flock): the lock is a file created exclusively.
func lock(path string) (unlock func(), err error) {
	name := path + ".lock"
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err == nil {
			f.Close()
			return func() { os.Remove(name) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if info, err := os.Stat(name); err == nil && time.Since(info.ModTime()) > lockStale {
			os.Remove(name) // a crashed writer's; the next round takes it
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is locked by another callvault command; if none is running, delete %s", path, name)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// writeFileAtomic replaces path with data: a reader sees either the old file
// or the new one (atomicfile.Write).
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

// fileChanged reports whether the file now described by info differs from
// the one last read (described by old).
func fileChanged(old, info fs.FileInfo) bool {
	if old == nil || info == nil {
		return old != info
	}
	return !os.SameFile(old, info) || !old.ModTime().Equal(info.ModTime()) || old.Size() != info.Size()
}
