// Package logbuf gathers a server's log lines and writes them together: an
// access line for every request, each written on its own, was a system call
// a request (a twentieth of a small request's CPU under load). Lines wait at
// most a short delay; a line of level Warn or above is written at once,
// with every line before it, and Close writes what is left.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Limit is the bytes a Writer holds before it writes them without waiting
// for its delay.
const Limit = 64 << 10

// Writer holds what is written to it, in order, and writes it to the
// underlying writer within its delay, when it holds Limit bytes, on Flush or
// on Close. It is safe for concurrent use.
type Writer struct {
	w     io.Writer
	delay time.Duration

	mu     sync.Mutex
	buf    []byte
	timer  *time.Timer // flushes after the delay; armed while buf holds bytes
	armed  bool
	closed bool
}

// New returns a Writer that writes to w at most delay after a line arrives.
func New(w io.Writer, delay time.Duration) *Writer {
	b := &Writer{w: w, delay: delay}
	b.timer = time.AfterFunc(time.Hour, b.timed)
	b.timer.Stop()
	return b
}

// Write keeps p to be written later, or writes it at once when the Writer is
// closed or p is larger than Limit. A line is never split.
func (b *Writer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(p) >= Limit {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > Limit {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.delay)
	}
	return len(p), nil
}

// Flush writes what the Writer holds.
func (b *Writer) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

// Close writes what the Writer holds; later writes go straight through.
func (b *Writer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.timer.Stop()
	return b.flushLocked()
}

func (b *Writer) timed() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed = false
	b.flushLocked() // the error has no one to go to; the next flush meets it again
}

func (b *Writer) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	if cap(b.buf) > 2*Limit {
		b.buf = nil
	} else {
		b.buf = b.buf[:0]
	}
	return err
}

// Handler returns h, whose output goes to w, such that a record of level
// at or above urgent is written at once, with the lines held before it.
func Handler(h slog.Handler, w *Writer, urgent slog.Level) slog.Handler {
	return &handler{h: h, w: w, urgent: urgent}
}

type handler struct {
	h      slog.Handler
	w      *Writer
	urgent slog.Level
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.h.Handle(ctx, r)
	if r.Level >= h.urgent {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{h: h.h.WithAttrs(as), w: h.w, urgent: h.urgent}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{h: h.h.WithGroup(name), w: h.w, urgent: h.urgent}
}
