//go:build unix

package sqlite

import (
	"errors"
	"os"
	"syscall"
)

// lockBulk takes the lock that says a bulk load runs on the database at
// path: an exclusive flock on path+"-bulk", held until release. The
// kernel drops it when the process ends, however it ends, which is what
// tells a load that stopped from one still running (bulkRunning).
func lockBulk(path string) (release func(), err error) {
	f, err := os.OpenFile(path+"-bulk", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	// The file stays: removing it would race a process about to lock it.
	return func() { f.Close() }, nil
}

// bulkRunning reports whether a process, this one included, holds the
// bulk lock of the database at path.
func bulkRunning(path string) bool {
	f, err := os.OpenFile(path+"-bulk", os.O_RDWR, 0)
	if err != nil {
		return false // no load ever began on this database
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}
