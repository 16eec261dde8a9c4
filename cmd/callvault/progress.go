package main

import (
	"fmt"
	"io"
	"os"
)

// statusLine shows the progress of a long job: redrawn in place when w is a
// terminal, a plain line per update otherwise (a log file, a pipe).
type statusLine struct {
	w        io.Writer
	terminal bool
	drawn    bool
}

func newStatusLine(w io.Writer) statusLine {
	s := statusLine{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			s.terminal = true
		}
	}
	return s
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
