package ingest

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/bits"
	"unicode/utf8"

	"github.com/callvault/callvault/internal/jsonx"
)

// The syntax check and the walk share one scan: scanner.scan validates a
// record's JSON and UTF-8 in a single pass and notes where its objects and
// arrays end, so that walking a member list finds each nested value's end
// without scanning it again (jsonx.ValueEnd would, once per level of
// nesting).

const (
	// maxNesting is encoding/json's limit, which json.Valid applies.
	maxNesting = 10000
	// Containers shorter than minSpan are cheaper to rescan than to look
	// up; those nested deeper than maxSpanDepth are never walked (the
	// walk stops at maxDepth objects, at most two JSON levels each).
	minSpan      = 32
	maxSpanDepth = 2*maxDepth + 4
)

// span is an object or array of the scanned text: its opening bracket and
// the index just past its closing one.
type span struct{ start, end int32 }

// scanner keeps its stacks between records.
type scanner struct {
	spans []span  // by start
	open  []int32 // the open containers: index in spans, or ^start when not recorded
}

// valid reports whether b is what json.Valid and utf8.Valid both accept.
func valid(b []byte) bool {
	var open [64]int32 // one allocation for the usual depths, not a few
	s := scanner{open: open[:0]}
	return s.scan(b, false)
}

// scan reports whether b is one JSON value in valid UTF-8, exactly as
// json.Valid(b) && utf8.Valid(b). With index, s.spans then holds the
// containers the walk may ask about.
func (s *scanner) scan(b []byte, index bool) bool {
	s.spans, s.open = s.spans[:0], s.open[:0]
	if len(b) > math.MaxInt32 {
		// Offsets are int32; MaxRecordSize is far below.
		return utf8.Valid(b) && json.Valid(b)
	}
	i := skipSpace(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; c {
		case '{', '[':
			if len(s.open) == maxNesting {
				return false
			}
			if index && len(s.open) < maxSpanDepth {
				s.open = append(s.open, int32(len(s.spans)))
				s.spans = append(s.spans, span{start: int32(i)})
			} else {
				s.open = append(s.open, ^int32(i))
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' and ']' follow '{' and '[' by two
				break // empty: closed below
			}
			if c == '{' {
				if i = memberKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return false
			}
		case 't':
			if i = literal(b, i, "true"); i < 0 {
				return false
			}
		case 'f':
			if i = literal(b, i, "false"); i < 0 {
				return false
			}
		case 'n':
			if i = literal(b, i, "null"); i < 0 {
				return false
			}
		default:
			if i = numberEnd(b, i); i < 0 {
				return false
			}
		}
		// After a value: close containers until the next member or
		// element, or the end of the text.
		for {
			i = skipSpace(b, i)
			if len(s.open) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := s.open[len(s.open)-1]
			start := int(^top)
			if top >= 0 {
				start = int(s.spans[top].start)
			}
			switch b[i] {
			case ',':
				i = skipSpace(b, i+1)
				if b[start] == '{' {
					if i = memberKey(b, i); i < 0 {
						return false
					}
				}
			case b[start] + 2:
				i++
				s.open = s.open[:len(s.open)-1]
				if top >= 0 {
					if i-start < minSpan && int(top) == len(s.spans)-1 {
						s.spans = s.spans[:top] // short: anything inside it was short too, and is gone
					} else {
						s.spans[top].end = int32(i)
					}
				}
				continue
			default:
				return false
			}
			break
		}
	}
}

// memberKey checks `"key" :` at b[i] and returns where the value starts.
func memberKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringEnd(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

func literal(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// numberEnd returns the index just past the number at b[i], or -1.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		i = digits(b, i)
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stringEnd returns the index just past the string at b[i] (a quote), or
// -1 when it is not a valid JSON string of valid UTF-8.
func stringEnd(b []byte, i int) int {
	i++
	for {
		// Eight bytes at a time up to the first quote, backslash, control
		// character or non-ASCII byte: most strings hold none but the
		// closing quote.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			quote, bslash := x^(ones*'"'), x^(ones*'\\')
			m := ((quote-ones)&^quote | (bslash-ones)&^bslash | (x-ones*0x20)&^x | x) & highs
			if m != 0 {
				// The lowest flagged byte is exact (borrows only carry upwards).
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(b)-i < 6 || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return -1
			}
			i += size
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// spanEnd returns the end of the container that starts at offset start of
// the scanned text, when it was recorded.
func spanEnd(spans []span, start int) (int, bool) {
	lo, hi := 0, len(spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if int(spans[m].start) < start {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(spans) && int(spans[lo].start) == start {
		return int(spans[lo].end), true
	}
	return 0, false
}

// walker walks the members of an object or the elements of an array, like
// jsonx.Object and jsonx.Array, in text that scan has validated. When the
// value lies in the scanned text (off >= 0), nested containers' ends come
// from the spans.
type walker struct {
	b     []byte
	i     int
	off   int // b's offset in the scanned text, or -1
	spans []span
}

// field is a member of an object as offsets into the object's text: the
// raw key between the quotes and the value. Scratch space of fields holds
// no pointers, so the GC neither scans it nor makes writes to it pay a
// write barrier.
type field struct{ key, keyEnd, val, valEnd int }

func (f field) keyIn(obj []byte) []byte   { return obj[f.key:f.keyEnd] }
func (f field) valueIn(obj []byte) []byte { return obj[f.val:f.valEnd] }

// member returns the next member of an object, and false after the last.
func (w *walker) member() (field, bool) {
	i := w.skipComma()
	if i >= len(w.b) || w.b[i] != '"' {
		w.i = len(w.b)
		return field{}, false
	}
	ke := validStringEnd(w.b, i)
	vs := jsonx.SkipSpace(w.b, ke)
	vs = jsonx.SkipSpace(w.b, vs+1) // past ':'
	e := w.valueEnd(vs)
	w.i = e
	return field{i + 1, ke - 1, vs, e}, true
}

// element returns the next element of an array, and false after the last.
func (w *walker) element() ([]byte, bool) {
	i := w.skipComma()
	if i >= len(w.b) || w.b[i] == ']' {
		w.i = len(w.b)
		return nil, false
	}
	e := w.valueEnd(i)
	w.i = e
	return w.b[i:e], true
}

func (w *walker) skipComma() int {
	i := jsonx.SkipSpace(w.b, w.i)
	if i < len(w.b) && w.b[i] == ',' {
		i = jsonx.SkipSpace(w.b, i+1)
	}
	return i
}

func (w *walker) valueEnd(i int) int {
	switch w.b[i] {
	case '"':
		return validStringEnd(w.b, i)
	case '{', '[':
		if w.off >= 0 {
			if e, ok := spanEnd(w.spans, w.off+i); ok {
				return e - w.off
			}
		}
	}
	return jsonx.ValueEnd(w.b, i)
}

// validStringEnd is stringEnd for a string known to be valid: only quotes
// and backslashes matter (an escape is two bytes, or six with \u and four
// hex digits, none of them a quote or a backslash).
func validStringEnd(b []byte, i int) int {
	i++
	for {
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			quote, bslash := x^(ones*'"'), x^(ones*'\\')
			if m := ((quote-ones)&^quote | (bslash-ones)&^bslash) & highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(b) && b[i] != '"' && b[i] != '\\' {
			i++
		}
		if i >= len(b) {
			return len(b)
		}
		if b[i] == '"' {
			return i + 1
		}
		i += 2
	}
}
