package heapfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		base, want  int
	}{
		{live: 2 << 20, floor: 32 << 20, base: 100, want: 800}, // the least goal, 4 MiB × 8, is the floor
		{live: 4 << 20, floor: 32 << 20, base: 100, want: 700}, // the goal: 4 + 4 × 7 = 32 MiB
		{live: 8 << 20, floor: 32 << 20, base: 100, want: 300},
		{live: 16 << 20, floor: 32 << 20, base: 100, want: 100}, // the default's double is the floor
		{live: 20 << 20, floor: 32 << 20, base: 100, want: 100}, // never below the base
		{live: 64 << 20, floor: 32 << 20, base: 100, want: 100},
		{live: 64 << 20, floor: 32 << 20, base: 50, want: 50},
		{live: 8 << 20, floor: 32 << 20, base: 400, want: 400},
		{live: 1 << 10, floor: 32 << 20, base: 100, want: 800},
		{live: 0, floor: 32 << 20, base: 100, want: 800}, // before the first cycle
		{live: 0, floor: 2 << 20, base: 100, want: 100},  // below the runtime's own least goal
	} {
		if got := Percent(c.live, c.floor, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", c.live, c.floor, c.base, got, c.want)
		}
	}
}

// gogc is the runtime's GOGC now.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// eventually waits up to 10 s for cond, collecting meanwhile: the tuner
// runs in the finalizer goroutine after a cycle.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: GOGC is %d after 10 s", what, gogc())
}

func TestStartRaisesGOGCWhileTheHeapIsSmallAndStopPutsItBack(t *testing.T) {
	t.Setenv("GOGC", "") // set: then unset below, so that Start reads it as absent
	unsetenv(t)
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	floor := int64(64 << 20) // far above this test's live heap
	stop := Start(floor)
	eventually(t, "a small heap", func() bool { return gogc() > 300 })

	// A live heap above the floor gets the default's proportion back.
	big := make([][]byte, 0, 96)
	for range 96 {
		big = append(big, make([]byte, 1<<20))
	}
	eventually(t, "a live heap above the floor", func() bool { return gogc() == 100 })
	runtime.KeepAlive(big)
	big = nil
	eventually(t, "the heap small again", func() bool { return gogc() > 300 })

	stop()
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC after stop = %d, want 100", got)
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC a cycle after stop = %d, want 100: the tuner still runs", got)
	}
	stop() // twice is harmless
}

func TestStartsShareOneTunerAndTheLastStopPutsGOGCBack(t *testing.T) {
	t.Setenv("GOGC", "")
	unsetenv(t)
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	stop1 := Start(16 << 20)
	eventually(t, "the first floor", func() bool { return gogc() == 400 }) // 16 MiB / 4 MiB
	stop2 := Start(64 << 20)
	eventually(t, "the higher floor", func() bool { return gogc() == 1600 })
	stop1()
	stop1()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gogc(); got != 1600 {
		t.Fatalf("GOGC = %d after the first stop, want the running floor's 1600", got)
	}
	stop2()
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC after the last stop = %d, want 100", got)
	}
}

func TestStartLeavesAGOGCOfTheEnvironment(t *testing.T) {
	t.Setenv("GOGC", "100")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(256 << 20)
	defer stop()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC = %d with GOGC=100 in the environment, want 100", got)
	}
}

func TestStartWithoutAFloorDoesNothing(t *testing.T) {
	t.Setenv("GOGC", "")
	unsetenv(t)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop := Start(0)
	defer stop()
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if got := gogc(); got != 100 {
		t.Fatalf("GOGC = %d with no floor, want 100", got)
	}
}

// unsetenv removes GOGC after t.Setenv, which puts it back after the test.
func unsetenv(t *testing.T) {
	t.Helper()
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
}
