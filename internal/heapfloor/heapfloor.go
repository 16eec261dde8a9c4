// Package heapfloor keeps the goal of the Go garbage collector at or above a
// floor while the live heap is small.
//
// With the default GOGC of 100 the collector runs whenever the heap doubles,
// and the runtime's least goal is 4 MiB. callvault serve keeps about 2 MiB
// live and allocates some 9 KiB a request, so under load it collected 30 to
// 50 times a second, each collection 2 to 3 ms of CPU and two pauses of both
// processors: about a tenth of a small request's CPU. A floor of a few
// times the least goal makes that a collection every couple of thousand
// requests, for those MiB of memory; a large live heap (a big ingest) keeps
// GOGC's proportion, so the floor never multiplies it.
//
// The goal cannot be given a floor directly: after each collection the
// floor's tuner reads the live heap and sets GOGC so that the next goal is
// the floor, or the default's double of the live heap when that is more. A
// GOGC in the environment is the operator's choice: Start then does nothing.
package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// minHeap is the runtime's least goal at GOGC=100. It scales with GOGC
// (runtime/mgcpacer.go), so a GOGC above floor/minHeap×100 would put that
// least goal, not the live heap's proportion, above the floor.
const minHeap = 4 << 20

// running is the tuner in effect, which every Start shares until the
// last stop: GOGC is the process's, and two tuners would each put back the
// other's value.
var (
	startMu sync.Mutex
	running *tuner
)

// Start keeps the collector's goal at or above floor bytes until stop is
// called, which puts GOGC back as it was. Without effect when the
// environment sets GOGC or floor is not positive. While several Starts are
// in effect (servers in one test process), the highest floor holds.
func Start(floor int64) (stop func()) {
	if floor <= 0 {
		return func() {}
	}
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	startMu.Lock()
	defer startMu.Unlock()
	t := running
	if t == nil {
		base := debug.SetGCPercent(100)
		debug.SetGCPercent(base)
		if base < 0 {
			return func() {} // collection is off: nothing to raise
		}
		t = &tuner{floor: uint64(floor), base: base, samples: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		running = t
		t.adjust()
		runtime.SetFinalizer(new(sentinel), t.finalize)
	} else {
		t.raise(uint64(floor))
	}
	t.users++
	var once sync.Once
	return func() {
		once.Do(func() {
			startMu.Lock()
			defer startMu.Unlock()
			if t.users--; t.users == 0 {
				t.stop()
				running = nil
			}
		})
	}
}

type tuner struct {
	base  int // GOGC before the first Start
	users int // Starts not stopped; under startMu

	mu      sync.Mutex
	floor   uint64
	stopped bool
	percent int // the GOGC last set
	samples []metrics.Sample
}

// sentinel is collected by every cycle; its finalizer, which runs after it,
// arms it again. It is larger than the tiny allocator's 16 bytes, whose
// objects may share a block with others and not be finalized.
type sentinel struct{ _ [32]byte }

// finalize runs after the cycle that collected s, and arms it again.
func (t *tuner) finalize(s *sentinel) {
	if t.adjust() {
		runtime.SetFinalizer(s, t.finalize)
	}
}

// adjust sets GOGC for the live heap just measured; false once stopped.
func (t *tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.samples)
	live := uint64(0)
	if v := t.samples[0].Value; v.Kind() == metrics.KindUint64 {
		live = v.Uint64()
	}
	p := Percent(live, t.floor, t.base)
	// A change of less than a tenth is not worth the runtime's work of a
	// new goal; the goal moves with the live heap anyway.
	if d := p - t.percent; t.percent == 0 || d > t.percent/10 || -d > t.percent/10 {
		debug.SetGCPercent(p)
		t.percent = p
	}
	return true
}

// raise makes floor the tuner's if it is higher, from the next cycle.
func (t *tuner) raise(floor uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.floor = max(t.floor, floor)
}

func (t *tuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetGCPercent(t.base)
	}
}

// Percent is the GOGC that makes the goal after a live heap of live bytes
// the floor, and never less than base. Before the first collection, when
// live is 0, it is the GOGC whose least goal is the floor.
func Percent(live, floor uint64, base int) int {
	p := floor * 100 / minHeap
	if live >= floor {
		p = 0
	} else if live > 0 {
		p = min(p, (floor-live)*100/live)
	}
	return max(int(p), base)
}
