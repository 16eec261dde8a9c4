// Package edm reads and writes the primitive values of the OData Entity Data
// Model as Microsoft Graph writes them on the wire.
package edm

import (
	"strconv"
	"strings"
	"time"
)

// AppendDateTimeOffset appends t as Graph writes an Edm.DateTimeOffset: UTC,
// "Z", up to seven fraction digits with trailing zeros trimmed and no dot
// when the fraction is zero (.NET's round-trip format, trimmed).
func AppendDateTimeOffset(b []byte, t time.Time) []byte {
	t = t.UTC()
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if frac := t.Nanosecond() / 100; frac != 0 {
		var d [8]byte
		d[0] = '.'
		for i := 7; i >= 1; i-- {
			d[i] = byte('0' + frac%10)
			frac /= 10
		}
		n := 8
		for d[n-1] == '0' {
			n--
		}
		b = append(b, d[:n]...)
	}
	return append(b, 'Z')
}

// FormatDateTimeOffset is AppendDateTimeOffset to a string.
func FormatDateTimeOffset(t time.Time) string { return string(AppendDateTimeOffset(nil, t)) }

// The date-times the stores index (a call record's startDateTime and
// endDateTime, a report row's date): from MinIndexedTime up to, not
// including, MaxIndexedTime, whole years within what int64 nanoseconds since
// 1970 hold. The zero time, 0001-01-01T00:00:00Z (.NET's DateTime.MinValue,
// which Graph writes for "no date"), is accepted too and means none.
var (
	MinIndexedTime = time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxIndexedTime = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Indexable reports whether t is in the range the stores index, or zero.
func Indexable(t time.Time) bool {
	return t.IsZero() || (!t.Before(MinIndexedTime) && t.Before(MaxIndexedTime))
}

// ParseDateTimeOffset reads an RFC 3339 date-time with any offset. Graph keeps
// 100 ns ticks, so finer digits are dropped.
func ParseDateTimeOffset(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.Truncate(100 * time.Nanosecond).UTC(), nil
}

// ValidDuration reports whether s is an Edm.Duration: an ISO 8601 duration
// limited to days, hours, minutes and (fractional) seconds, as OData defines
// it: [-]P[nD][T[nH][nM][n[.n]S]], with at least one part.
func ValidDuration(s string) bool {
	s = strings.TrimPrefix(s, "-")
	s, ok := strings.CutPrefix(s, "P")
	if !ok {
		return false
	}
	date, clock, hasT := strings.Cut(s, "T")
	if date != "" && (!digitsThen(date[:len(date)-1], false) || date[len(date)-1] != 'D') {
		return false
	}
	if !hasT {
		return date != ""
	}
	parts := 0
	for _, unit := range []byte{'H', 'M', 'S'} {
		i := strings.IndexByte(clock, unit)
		if i < 0 {
			continue
		}
		if !digitsThen(clock[:i], unit == 'S') {
			return false
		}
		clock = clock[i+1:]
		parts++
	}
	return parts > 0 && clock == ""
}

// digitsThen reports whether s is one or more digits, with one inner
// fraction when frac allows it.
func digitsThen(s string, frac bool) bool {
	whole, fraction, dot := strings.Cut(s, ".")
	if dot && (!frac || fraction == "" || !allDigits(fraction)) {
		return false
	}
	return whole != "" && allDigits(whole)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseInt reads an integer literal of the given bit size (32 or 64): no
// fraction, no exponent.
func ParseInt(raw []byte, bits int) (int64, error) {
	return strconv.ParseInt(string(raw), 10, bits)
}
