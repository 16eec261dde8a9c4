package odata

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/callvault/callvault/schema"
)

// ContentType is the Content-Type of Graph's JSON responses.
const ContentType = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

// Nav is the value of an expanded navigation collection of one entity.
type Nav struct {
	Property *schema.Property
	Select   *Selection
	Bodies   [][]byte
}

// Entity appends an entity of type t from its stored body, with its
// expanded navigation collections after its own properties.
func (c *Codec) Entity(buf []byte, t *schema.Type, body []byte, sel *Selection, o Options, navs ...Nav) []byte {
	buf = c.Object(buf, t, body, sel, o, true)
	for _, n := range navs {
		if buf[len(buf)-1] != '{' {
			buf = append(buf, ',')
		}
		buf = append(buf, '"')
		buf = append(buf, n.Property.Name...)
		buf = append(buf, `":`...)
		buf = c.Collection(buf, n.Property.Type, n.Bodies, n.Select, o)
	}
	return append(buf, '}')
}

// Collection appends a JSON array of stored bodies of type t.
func (c *Codec) Collection(buf []byte, t *schema.Type, bodies [][]byte, sel *Selection, o Options) []byte {
	buf = append(buf, '[')
	for i, b := range bodies {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = c.Object(buf, t, b, sel, o, false)
	}
	return append(buf, ']')
}

// KeySegment writes an entity key as a URL segment of a context URL:
// ('id'), with quotes doubled and the characters a path cannot hold escaped.
func KeySegment(id string) string {
	return "('" + url.PathEscape(strings.ReplaceAll(id, "'", "''")) + "')"
}

// AppendString appends s as a JSON string.
func AppendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			buf = append(buf, c)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, `\ufffd`...)
			} else {
				buf = append(buf, s[i:i+size]...)
			}
			i += size
			continue
		}
		i++
	}
	return append(buf, '"')
}

// ClipWritten returns s as a message may quote it whole, bounded as
// AppendString writes it: a run of bytes that are not UTF-8 becomes one
// U+FFFD (AppendString would write each such byte as the six bytes
// \ufffd), and s is cut, on a character boundary and marked with an
// ellipsis, where AppendString would write more than n bytes of it.
func ClipWritten(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	size := 0
	for i, r := range s {
		switch {
		case r < 0x20:
			size += 6 // \u00XX
		case r == '"' || r == '\\':
			size += 2
		default:
			size += utf8.RuneLen(r)
		}
		if size > n {
			return s[:i] + "…"
		}
	}
	return s
}
