package logbuf

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records the writes that reach it.
type sink struct {
	mu     sync.Mutex
	writes []string
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, string(p))
	return len(p), nil
}

func (s *sink) text() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.writes, ""), len(s.writes)
}

func TestLinesWaitAtMostTheDelay(t *testing.T) {
	var s sink
	w := New(&s, 50*time.Millisecond)
	l := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn))
	start := time.Now()
	l.Info("one")
	l.Info("two")
	if got, _ := s.text(); got != "" {
		t.Fatalf("written before the delay: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, n := s.text()
		if strings.Contains(got, "msg=two") {
			if n != 1 || !strings.Contains(got, "msg=one") || strings.Index(got, "msg=one") > strings.Index(got, "msg=two") {
				t.Fatalf("%d writes, %q: want both lines, in order, in one write", n, got)
			}
			if waited := time.Since(start); waited < 50*time.Millisecond {
				t.Fatalf("written after %v, before the delay", waited)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not written within 5 s: %q", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The timer is armed again by the next line.
	l.Info("three")
	for deadline = time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got, _ := s.text(); strings.Contains(got, "msg=three") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the second batch was not written: %q", got)
		}
	}
}

func TestAWarningIsWrittenAtOnceWithTheLinesBeforeIt(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	l := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("component", "x")
	l.Info("request")
	l.WithGroup("g").Warn("trouble", "k", 1)
	got, n := s.text()
	if n != 1 || !strings.Contains(got, "msg=request") || !strings.Contains(got, "msg=trouble") || !strings.Contains(got, "g.k=1") {
		t.Fatalf("%d writes: %q", n, got)
	}
	l.Error("worse")
	if got, n = s.text(); n != 2 || !strings.Contains(got, "msg=worse") {
		t.Fatalf("%d writes: %q", n, got)
	}
}

func TestFullBufferIsWrittenWithoutSplittingALine(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	for range 200 { // 200,000 bytes: three Limits and some
		w.Write(line)
	}
	s.mu.Lock()
	writes := append([]string(nil), s.writes...)
	s.mu.Unlock()
	if len(writes) != 3 {
		t.Fatalf("%d writes of 200 lines of 1000 bytes, want 3 of 65 lines", len(writes))
	}
	for _, wr := range writes {
		if len(wr) > Limit || len(wr)%1000 != 0 {
			t.Fatalf("a write of %d bytes: more than Limit, or a line split", len(wr))
		}
	}
	big := bytes.Repeat([]byte("y"), Limit+10)
	w.Write(big)
	if _, n := s.text(); n != 5 { // what was held, then the big line on its own
		t.Fatalf("%d writes after a line larger than Limit, want 5", n)
	}
}

func TestCloseWritesTheRestAndLaterLinesGoStraightThrough(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	w.Write([]byte("held\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.text(); got != "held\n" {
		t.Fatalf("after Close: %q", got)
	}
	w.Write([]byte("late\n"))
	if got, n := s.text(); got != "held\nlate\n" || n != 2 {
		t.Fatalf("after a write past Close: %d writes, %q", n, got)
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var s sink
	w := New(&s, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(w, "g%d line %04d %s\n", g, i, strings.Repeat("z", 100))
			}
		})
	}
	wg.Wait()
	w.Close()
	got, _ := s.text()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := map[string]int{}
	for _, l := range lines {
		var g string
		var i int
		if _, err := fmt.Sscanf(l, "%s line %d", &g, &i); err != nil || len(l) != len("g0 line 0000 ")+100 {
			t.Fatalf("a broken line: %q", l)
		}
		if i != next[g] {
			t.Fatalf("%s: line %d after %d", g, i, next[g]-1)
		}
		next[g]++
	}
}
