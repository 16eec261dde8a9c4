package synth

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// enc appends compact JSON to b in the order its methods are called, so
// property order is the code's order: stable, and "@odata.type" first
// wherever a writer puts it first.
type enc struct {
	b     []byte
	comma bool // the next value or key in the current container needs a ','
}

func (e *enc) reset() { e.b, e.comma = e.b[:0], false }

func (e *enc) sep() {
	if e.comma {
		e.b = append(e.b, ',')
	}
	e.comma = true
}

// key writes a property name; an empty k means an array element follows.
func (e *enc) key(k string) {
	if k == "" {
		return
	}
	e.sep()
	e.b = appendString(e.b, k)
	e.b = append(e.b, ':')
	e.comma = false
}

func (e *enc) open(k string) {
	e.key(k)
	e.sep()
	e.b = append(e.b, '{')
	e.comma = false
}

func (e *enc) close() { e.b = append(e.b, '}'); e.comma = true }

func (e *enc) openArr(k string) {
	e.key(k)
	e.sep()
	e.b = append(e.b, '[')
	e.comma = false
}

func (e *enc) closeArr() { e.b = append(e.b, ']'); e.comma = true }

// odataType writes the type annotation of a callRecords type; call it first.
func (e *enc) odataType(name string) {
	e.key("@odata.type")
	e.sep()
	e.b = append(e.b, `"#microsoft.graph.callRecords.`...)
	e.b = append(e.b, name...)
	e.b = append(e.b, '"')
}

func (e *enc) str(k, v string) {
	e.key(k)
	e.sep()
	e.b = appendString(e.b, v)
}

// optStr writes k only when v is not empty.
func (e *enc) optStr(k, v string) {
	if v != "" {
		e.str(k, v)
	}
}

func (e *enc) int(k string, v int64) {
	e.key(k)
	e.sep()
	e.b = strconv.AppendInt(e.b, v, 10)
}

// single writes an Edm.Single: the shortest text that reads back as v's
// float32.
func (e *enc) single(k string, v float64) {
	e.key(k)
	e.sep()
	e.b = strconv.AppendFloat(e.b, float64(float32(v)), 'f', -1, 32)
}

func (e *enc) boolean(k string, v bool) {
	e.key(k)
	e.sep()
	e.b = strconv.AppendBool(e.b, v)
}

func (e *enc) null(k string) {
	e.key(k)
	e.sep()
	e.b = append(e.b, "null"...)
}

// time writes an Edm.DateTimeOffset as Graph does: UTC, up to seven
// fraction digits with trailing zeros (and a bare '.') dropped.
func (e *enc) time(k string, t time.Time) {
	e.key(k)
	e.sep()
	e.b = append(e.b, '"')
	e.b = t.UTC().AppendFormat(e.b, "2006-01-02T15:04:05.9999999Z")
	e.b = append(e.b, '"')
}

// duration writes an Edm.Duration in ISO 8601 ("PT0.016S", "PT1M2.5S").
func (e *enc) duration(k string, d time.Duration) {
	e.key(k)
	e.sep()
	e.b = append(e.b, '"')
	e.b = appendDuration(e.b, d)
	e.b = append(e.b, '"')
}

// appendDuration formats d (non-negative, 100 ns resolution) the way .NET's
// XmlConvert does for a TimeSpan.
func appendDuration(b []byte, d time.Duration) []byte {
	b = append(b, 'P')
	if d < 0 {
		d = 0
	}
	d = d.Round(100)
	if days := d / (24 * time.Hour); days > 0 {
		b = strconv.AppendInt(b, int64(days), 10)
		b = append(b, 'D')
		d -= days * 24 * time.Hour
		if d == 0 {
			return b
		}
	}
	b = append(b, 'T')
	if h := d / time.Hour; h > 0 {
		b = strconv.AppendInt(b, int64(h), 10)
		b = append(b, 'H')
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		b = strconv.AppendInt(b, int64(m), 10)
		b = append(b, 'M')
		d -= m * time.Minute
	}
	if d == 0 && b[len(b)-1] != 'T' {
		return b
	}
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	if frac := int64(d%time.Second) / 100; frac > 0 {
		var digits [7]byte
		for i := 6; i >= 0; i-- {
			digits[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 7
		for digits[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, digits[:n]...)
	}
	return append(b, 'S')
}

// appendString writes s as a JSON string. Non-ASCII text stays as UTF-8;
// only what JSON requires is escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}
