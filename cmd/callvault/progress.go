package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// statusLine shows the progress of a long job: redrawn in place when w is a
// terminal, a plain line per update otherwise (a log file, a pipe), at most
// once every `every` (0: never) and not before the job has run that long.
type statusLine struct {
	w           io.Writer
	terminal    bool
	drawn       bool
	every       time.Duration
	start, last time.Time
}

func newStatusLine(w io.Writer, every time.Duration, start time.Time) statusLine {
	s := statusLine{w: w, every: every, start: start}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			s.terminal = true
		}
	}
	return s
}

// due reports whether a line is due now, and the time since the start.
func (s *statusLine) due() (elapsed time.Duration, ok bool) {
	if s.every <= 0 {
		return 0, false
	}
	now := time.Now()
	if now.Sub(s.last) < s.every || now.Sub(s.start) < s.every {
		return 0, false
	}
	s.last = now
	return now.Sub(s.start), true
}

func (s *statusLine) show(line string) {
	if s.terminal {
		fmt.Fprintf(s.w, "\r\033[K%s", line)
		s.drawn = true
	} else {
		fmt.Fprintln(s.w, line)
	}
}

// clear ends a line drawn in place, so the next output starts clean.
func (s *statusLine) clear() {
	if s.drawn {
		fmt.Fprint(s.w, "\r\033[K")
		s.drawn = false
	}
}
