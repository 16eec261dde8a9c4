// Package jsonx walks JSON text that is already known to be valid (checked
// with json.Valid, or written by callvault itself) without decoding it: the
// encoder and the validator read objects member by member and copy values as
// bytes, with no maps, no reflection and no allocation.
package jsonx

import "bytes"

// SkipSpace returns the index of the first non-space byte at or after i.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// ValueEnd returns the index just past the value that starts at b[i].
func ValueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // number, true, false, null
		for i < len(b) && !ends[b[i]] {
			i++
		}
		return i
	}
}

// ends holds the bytes that end a number or a literal.
var ends = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\n': true, '\r': true}

// StringEnd returns the index just past the string that starts at b[i]
// (a quote).
func StringEnd(b []byte, i int) int { return stringEnd(b, i) }

// stringEnd returns the index just past the string that starts at b[i].
// It jumps from quote to quote (IndexByte is vectorised): strings are most
// of the bytes of a stored body.
func stringEnd(b []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// Member is one member of an object: Key is the raw key text between the
// quotes (escapes left as they are), Value the raw value.
type Member struct {
	Key   []byte
	Value []byte
}

// Object walks the members of a JSON object.
type Object struct {
	b []byte
	i int
}

// NewObject starts a walk over the object b; ok is false when b is not an
// object.
func NewObject(b []byte) (o Object, ok bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Object{}, false
	}
	return Object{b: b, i: i + 1}, true
}

// Next returns the next member, and false after the last.
func (o *Object) Next() (Member, bool) {
	i := SkipSpace(o.b, o.i)
	if i < len(o.b) && o.b[i] == ',' {
		i = SkipSpace(o.b, i+1)
	}
	if i >= len(o.b) || o.b[i] != '"' {
		o.i = len(o.b)
		return Member{}, false
	}
	ke := stringEnd(o.b, i)
	key := o.b[i+1 : ke-1]
	i = SkipSpace(o.b, ke)
	i = SkipSpace(o.b, i+1) // past ':'
	ve := ValueEnd(o.b, i)
	o.i = ve
	return Member{Key: key, Value: o.b[i:ve]}, true
}

// Array walks the elements of a JSON array.
type Array struct {
	b []byte
	i int
}

// NewArray starts a walk over the array b; ok is false when b is not an
// array.
func NewArray(b []byte) (a Array, ok bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return Array{}, false
	}
	return Array{b: b, i: i + 1}, true
}

// Next returns the next element, and false after the last.
func (a *Array) Next() ([]byte, bool) {
	i := SkipSpace(a.b, a.i)
	if i < len(a.b) && a.b[i] == ',' {
		i = SkipSpace(a.b, i+1)
	}
	if i >= len(a.b) || a.b[i] == ']' {
		a.i = len(a.b)
		return nil, false
	}
	e := ValueEnd(a.b, i)
	a.i = e
	return a.b[i:e], true
}

// IsNull reports whether the raw value v is the literal null.
func IsNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }
