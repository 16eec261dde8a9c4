package odata

import (
	"encoding/binary"

	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/schema"
)

// Member tables. A merge with $select writes a few members of a body and
// skips the others, and skipping a value means reading all of it to find
// where it ends (jsonx.ValueEnd): a session's caller and callee are most of
// its bytes, so $select=id,startDateTime read every byte of every session.
// CompileAll therefore stores, after the scripts, where each member of the
// body's top-level object ends, as an entry without fingerprints, which
// RenderStored (of this build and of those before it) passes over:
//
//	count    byte      0
//	kind     byte      'm'
//	uvarint            the length of the body
//	uvarint            how many members
//	uvarint*           each member's value end less the previous one's
//	                   (the first's less 0)
//
// A value end is the index just past the value, where the body, in stored
// form, has the ',' or '}' after it. ObjectStored reads the table and
// checks each end it takes against the body; a table that does not fit is
// dropped for the rest of the body, whose ends are then found by reading.

// memberKind marks a member table among the entries of a scripts blob.
const memberKind = 'm'

// appendMemberTable appends the member table of body, an entry of a
// scripts blob, to out; out as it was when body is not an object in stored
// form. seen, when not nil, holds the ends a merge of body found (as the
// compiler's does, noting them): when they fit, they spare reading the
// body again.
func appendMemberTable(out, body []byte, seen []int) []byte {
	var endsBuf [32]int
	ends := seen
	if !fits(body, ends) {
		ends = walkEnds(body, endsBuf[:0])
		if !fits(body, ends) {
			return out
		}
	}
	var entryBuf [128]byte
	e := append(entryBuf[:0], 0, memberKind)
	e = binary.AppendUvarint(e, uint64(len(body)))
	e = binary.AppendUvarint(e, uint64(len(ends)))
	prev := 0
	for _, x := range ends {
		e = binary.AppendUvarint(e, uint64(x-prev))
		prev = x
	}
	out = binary.AppendUvarint(out, uint64(len(e)))
	return append(out, e...)
}

// walkEnds appends to ends where each member of body's top-level object
// ends, reading the body, as far as it is in stored form (fits tells).
func walkEnds(body []byte, ends []int) []int {
	for i := 1; i < len(body) && body[i] == '"'; {
		ke := jsonx.StringEnd(body, i)
		if ke+1 >= len(body) || body[ke] != ':' {
			break
		}
		ve := jsonx.ValueEnd(body, ke+1)
		ends = append(ends, ve)
		if ve >= len(body) || body[ve] != ',' {
			break
		}
		i = ve + 1
	}
	return ends
}

// fits reports whether ends can be body's member ends in stored form: each
// past the last, on a ',' that a key follows, the last on the closing
// brace.
func fits(body []byte, ends []int) bool {
	if len(ends) == 0 || len(body) < 2 || body[0] != '{' || ends[len(ends)-1] != len(body)-1 || body[len(body)-1] != '}' {
		return false
	}
	prev := 1
	for _, e := range ends[:len(ends)-1] {
		if e <= prev || e+1 >= len(body) || body[e] != ',' || body[e+1] != '"' {
			return false
		}
		prev = e + 1
	}
	return len(ends) == 1 || ends[len(ends)-1] > prev
}

// memberEnds is a member table being read, in the order of the members;
// or, for the compiler, the ends a merge finds, noted.
type memberEnds struct {
	b    []byte // the deltas not read yet
	prev int
	n    int   // members not read yet
	seen []int // noted ends, when noting
}

// note records ve, where a merge found the end of a member's value, when m
// is noting.
func (m *memberEnds) note(ve int) {
	if m != nil && m.seen != nil {
		m.seen = append(m.seen, ve)
	}
}

// findMembers returns the member table of body in scripts, a blob
// CompileAll wrote; nil when it holds none for a body of this length.
func findMembers(m *memberEnds, scripts, body []byte) *memberEnds {
	for len(scripts) > 0 {
		n, w := binary.Uvarint(scripts)
		if w <= 0 || n > uint64(len(scripts)-w) {
			return nil
		}
		e := scripts[w : w+int(n)]
		scripts = scripts[w+int(n):]
		if len(e) < 2 || e[0] != 0 || e[1] != memberKind {
			continue
		}
		size, a := binary.Uvarint(e[2:])
		count, b := binary.Uvarint(e[2+max(a, 0):])
		if a <= 0 || b <= 0 || size != uint64(len(body)) || count > uint64(len(body)) {
			return nil
		}
		*m = memberEnds{b: e[2+a+b:], n: int(count)}
		return m
	}
	return nil
}

// take returns the end of the value of the next member, which starts at
// v[vs]; -1 when there is no table or its entry does not fit v, which drops
// the table.
func (m *memberEnds) take(v []byte, vs int) int {
	if m == nil || m.n == 0 {
		return -1
	}
	d, w := binary.Uvarint(m.b)
	e := m.prev + int(d)
	if w <= 0 || d > uint64(len(v)) || e <= vs || e >= len(v) || (v[e] != ',' && v[e] != '}') {
		m.n = 0
		return -1
	}
	m.b, m.prev, m.n = m.b[w:], e, m.n-1
	return e
}

// valueEnd returns te, a member table's end of the value at v[vs], or
// when there is none, the end found by reading the value.
func valueEnd(v []byte, vs, te int) int {
	if te >= 0 {
		return te
	}
	return jsonx.ValueEnd(v, vs)
}

// ObjectStored is Object(buf, t, body, sel, o, false) for a stored body
// and the scripts stored with it (CompileAll's blob, or nil): their member
// table, when they have one, spares reading the values sel leaves out.
func (c *Codec) ObjectStored(buf []byte, t *schema.Type, body, scripts []byte, sel *Selection, o Options) []byte {
	var m memberEnds
	return c.objectStored(buf, t, body, scripts, sel, o, &m)
}

// objectStored is ObjectStored reading the member table into m.
func (c *Codec) objectStored(buf []byte, t *schema.Type, body, scripts []byte, sel *Selection, o Options, m *memberEnds) []byte {
	if len(body) == 0 || body[0] != '{' {
		return c.Object(buf, t, body, sel, o, false)
	}
	if out, _, ok := c.merge(buf, c.plans[t], body, 0, sel, o, false, nil, findMembers(m, scripts, body)); ok {
		return out
	}
	return c.indexed(buf, t, body, sel, o, false)
}
