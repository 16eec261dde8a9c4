package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxRecordSize bounds one record of an import stream. A 60,000-session
// meeting with its segments is a few hundred megabytes.
const MaxRecordSize = 1 << 30

// Reader splits an import stream into records. It takes JSON Lines (one
// record per line), one JSON object, several objects one after the other, or
// a JSON array of objects, and never holds more than one record in memory.
type Reader struct {
	src   *bufio.Reader
	mode  int
	line  int // JSON Lines: the current line
	dec   *json.Decoder
	lines *lineTracker
	err   error
}

const (
	modeUnknown = iota
	modeLines
	modeDocument
	modeArray
)

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: bufio.NewReaderSize(r, 1<<20)}
}

// SyntaxError is a break in a JSON document or array that ends the stream:
// nothing after it can be read.
type SyntaxError struct {
	Line int
	Err  error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d: invalid JSON, the rest of the input cannot be read: %v", e.Line, e.Err)
}

// Next returns the next record's raw text and the line it starts on, or
// io.EOF at the end. A JSON Lines record is returned even when it is not
// valid JSON (the Normalizer rejects it and the stream goes on); in a
// document or an array a syntax error is a *SyntaxError and ends the stream.
func (r *Reader) Next() (raw []byte, line int, err error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	if r.mode == modeUnknown {
		if err := r.detect(); err != nil {
			r.err = err
			return nil, 0, err
		}
	}
	switch r.mode {
	case modeLines:
		raw, line, err = r.nextLine()
	default:
		raw, line, err = r.nextValue()
	}
	if err != nil {
		r.err = err
	}
	return raw, line, err
}

// detect picks the mode from the first line: a line that is a whole JSON
// value means JSON Lines, and so does a first line that is not JSON at all
// when the next line is a whole value, so that a bad first line is one bad
// record, as a bad line anywhere else is. A UTF-8 byte order mark at the
// start is skipped.
func (r *Reader) detect() error {
	if b, _ := r.src.Peek(3); bytes.Equal(b, utf8BOM) {
		r.src.Discard(3)
	}
	for {
		b, err := r.src.Peek(1)
		if err != nil {
			return err // io.EOF: an empty stream has no records
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			r.src.ReadByte()
			continue
		case '[':
			r.mode = modeArray
		default:
			r.mode = modeDocument
			if first := r.peekLine(); first != nil && (json.Valid(first) || r.badFirstLine(first)) {
				r.mode = modeLines
			}
		}
		break
	}
	if r.mode == modeLines {
		return nil
	}
	r.lines = &lineTracker{r: r.src, lines: 1}
	r.dec = json.NewDecoder(r.lines)
	if r.mode == modeArray {
		if _, err := r.dec.Token(); err != nil {
			return &SyntaxError{Line: 1, Err: err}
		}
	}
	return nil
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// badFirstLine reports whether first is a line of JSON Lines that is not
// JSON: it breaks the JSON syntax within itself (rather than being one or
// more whole values, or the start of a value that goes on after it) and the
// next line that is not blank is a whole JSON value.
func (r *Reader) badFirstLine(first []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(first))
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false // whole values, or one that goes on: a document
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			break
		}
		if err != nil {
			return false
		}
	}
	next := r.peekNextLine(len(first))
	return next != nil && json.Valid(next)
}

// peekNextLine returns the first line that is not blank after the first
// line (of length n), when it fits the read buffer.
func (r *Reader) peekNextLine(n int) []byte {
	for size := 4096; ; size *= 2 {
		b, err := r.src.Peek(size)
		rest := b[min(n+1, len(b)):]
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				if err != nil {
					return bytes.TrimSpace(rest) // the last line of the stream
				}
				break // it goes on past what was peeked
			}
			if line := bytes.TrimSpace(rest[:i]); len(line) > 0 {
				return line
			}
			rest = rest[i+1:]
		}
		if err != nil || size >= r.src.Size() {
			return nil
		}
	}
}

// peekLine returns the first line when it fits the read buffer.
func (r *Reader) peekLine() []byte {
	for n := 4096; ; n *= 2 {
		b, err := r.src.Peek(n)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return b[:i]
		}
		if err != nil {
			return b // the whole stream is one line
		}
		if n >= r.src.Size() {
			return nil
		}
	}
}

func (r *Reader) nextLine() ([]byte, int, error) {
	for {
		var rec []byte
		for {
			part, err := r.src.ReadSlice('\n')
			rec = append(rec, part...)
			if err == bufio.ErrBufferFull {
				if len(rec) > MaxRecordSize {
					return nil, r.line + 1, fmt.Errorf("line %d: a record is larger than %d bytes", r.line+1, MaxRecordSize)
				}
				continue
			}
			if err != nil && err != io.EOF {
				return nil, r.line, err
			}
			if err == io.EOF && len(rec) == 0 {
				return nil, 0, io.EOF
			}
			break
		}
		r.line++
		if t := bytes.TrimSpace(rec); len(t) > 0 {
			return t, r.line, nil
		}
	}
}

func (r *Reader) nextValue() ([]byte, int, error) {
	if !r.dec.More() {
		if r.mode == modeArray {
			if _, err := r.dec.Token(); err != nil { // the closing bracket
				return nil, 0, &SyntaxError{Line: r.lines.lineAt(r.dec.InputOffset()), Err: err}
			}
			if _, err := r.dec.Token(); err != io.EOF {
				return nil, 0, &SyntaxError{Line: r.lines.lineAt(r.dec.InputOffset()), Err: errors.New("text after the closing ']'")}
			}
		}
		return nil, 0, io.EOF
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		off := r.dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off += se.Offset // counted from where this value's scan began
		}
		if err == io.ErrUnexpectedEOF {
			err, off = errors.New("unexpected end of input"), r.lines.off
		}
		return nil, 0, &SyntaxError{Line: r.lines.lineAt(off), Err: err}
	}
	start := r.dec.InputOffset() - int64(len(raw))
	return raw, r.lines.lineAt(start), nil
}

// lineTracker maps byte offsets of what a json.Decoder read to line numbers,
// keeping only the chunks the decoder may still ask about.
type lineTracker struct {
	r      io.Reader
	off    int64 // bytes read so far
	lines  int   // line number at off
	chunks []chunk
}

type chunk struct {
	start int64
	line  int // line number at start
	data  []byte
}

func (t *lineTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.chunks = append(t.chunks, chunk{start: t.off, line: t.lines, data: append([]byte(nil), p[:n]...)})
		t.off += int64(n)
		t.lines += bytes.Count(p[:n], []byte{'\n'})
	}
	return n, err
}

// lineAt returns the line of offset off; offsets asked for never decrease.
func (t *lineTracker) lineAt(off int64) int {
	for len(t.chunks) > 1 && t.chunks[1].start <= off {
		t.chunks = t.chunks[1:]
	}
	if len(t.chunks) == 0 {
		return t.lines
	}
	c := t.chunks[0]
	rel := min(max(off-c.start, 0), int64(len(c.data)))
	return c.line + bytes.Count(c.data[:rel], []byte{'\n'})
}
