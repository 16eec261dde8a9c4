//go:build unix

package auth

import (
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// openCounter maps the counter of the key file at path, creating it (eight
// zero bytes, mode 0600) when it is missing; nil when it cannot. release
// unmaps it.
func openCounter(keyFile string) (_ *changeCounter, release func()) {
	f, err := os.OpenFile(counterPath(keyFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil
	}
	defer f.Close() // the mapping outlives the descriptor
	if info, err := f.Stat(); err != nil || (info.Size() < 8 && f.Truncate(8) != nil) {
		return nil, nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	c := &changeCounter{word: (*atomic.Uint64)(unsafe.Pointer(&mem[0]))}
	return c, func() { syscall.Munmap(mem) }
}
