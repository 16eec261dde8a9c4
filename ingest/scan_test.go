package ingest

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callvault/callvault/edm"
	"github.com/callvault/callvault/internal/jsonx"
)

var scanCases = []string{
	``, ` `, `{}`, `[]`, `{ }`, `[ ]`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{1:1}`, `{"a":1 "b":2}`, `[1 2]`, `]`, `}`, `{]`, `[}`,
	`0`, `-0`, `01`, `-`, `1.`, `.1`, `1e`, `1e+`, `1E-7`, `1.5e300`, `-12.5E+3`, `2.`, `0x1`, `+1`, `1_0`,
	`true`, `tru`, `truee`, `false`, `null`, `nul`, `NaN`, `"a"`, `"a`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00e"`,
	`"\uD800"`, `"\x"`, "\"\x1f\"", "\"\x7f\"", "\"\xc3\xa9\"", "\"\xc3\"", "\"\xff\"", "\"\xed\xa0\x80\"", "\"\xf4\x8f\xbf\xbf\"",
	"\"\xf4\x90\x80\x80\"", "\"\xc0\xaf\"", "\"\xef\xbf\xbd\"", "\xef\xbb\xbf{}", "{} \xff", "{}\n", "\t{}\r\n", "{}{}", "{} 1",
	`{"a":[1,{"b":[true,false,null,"x"]}],"c":{}}`, `[[[]]]`, `[[[]]`, `{"a":{"b":{"c":{}}}}`, `{"a":{"b":{"c":{}}}`,
	strings.Repeat("[", maxNesting) + strings.Repeat("]", maxNesting), strings.Repeat("[", maxNesting+1) + strings.Repeat("]", maxNesting+1),
	`"` + strings.Repeat("abcdefgh", 9) + `\"` + strings.Repeat("é", 9) + `"`, `["0123456","01234567","012345678"]`,
}

// The scanner must accept exactly what json.Valid and utf8.Valid accept
// together, and note each long container where it ends.
func TestScanAgreesWithEncodingJSON(t *testing.T) {
	check := func(t *testing.T, b []byte) {
		t.Helper()
		want := utf8.Valid(b) && json.Valid(b)
		var s scanner
		if got := s.scan(b, true); got != want {
			t.Fatalf("scan(%.80q) = %v, want %v", b, got, want)
		}
		if valid(b) != want {
			t.Fatalf("valid(%.80q) != %v", b, want)
		}
		if !want {
			return
		}
		last := -1
		for _, sp := range s.spans {
			if int(sp.start) <= last {
				t.Fatalf("%.80q: spans out of order: %v", b, s.spans)
			}
			last = int(sp.start)
			if e := jsonx.ValueEnd(b, int(sp.start)); int(sp.end) != e || e-int(sp.start) < minSpan {
				t.Fatalf("%.80q: span %v, ValueEnd %d", b, sp, e)
			}
		}
	}
	for _, c := range scanCases {
		check(t, []byte(c))
	}
	if testing.Short() || raceEnabled {
		return
	}
	for _, g := range corpus(t) {
		for _, in := range g.inputs {
			check(t, in.raw)
		}
	}
}

func FuzzScan(f *testing.F) {
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s scanner
		got, want := s.scan(b, true), utf8.Valid(b) && json.Valid(b)
		if got != want {
			t.Fatalf("scan(%.200q) = %v, want %v", b, got, want)
		}
		for _, sp := range s.spans {
			if e := jsonx.ValueEnd(b, int(sp.start)); want && int(sp.end) != e {
				t.Fatalf("%.200q: span %v, ValueEnd %d", b, sp, e)
			}
		}
	})
}

// A date-time kept as written must be what parsing and writing it gives.
func TestCanonicalDateTimeIsWhatAppendWrites(t *testing.T) {
	cases := []string{
		"2020-02-25T18:52:21.2169889Z", "2020-02-25T18:52:21Z", "2020-02-25T18:52:21.5Z", "2020-02-25T18:52:21.50Z",
		"2020-02-25T18:52:21.21698891Z", "2020-02-29T00:00:00Z", "2021-02-29T00:00:00Z", "2020-02-30T00:00:00Z",
		"2020-04-31T00:00:00Z", "2020-12-31T23:59:59.9999999Z", "2020-13-01T00:00:00Z", "2020-00-01T00:00:00Z",
		"2020-01-00T00:00:00Z", "2020-01-01T24:00:00Z", "2020-01-01T23:60:00Z", "2020-01-01T23:59:60Z",
		"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2020-01-01t00:00:00Z",
		"2020-01-01T00:00:00z", "2020-01-01T00:00:00+00:00", "2020-01-01T00:00:00.Z", "2020-01-01 00:00:00Z",
		"2020-1-01T00:00:00Z", "2020-01-01T00:00:00.0Z", "1900-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2020-01-01T00:00:0aZ",
	}
	for y := 1999; y <= 2001; y++ {
		for m := 1; m <= 12; m++ {
			for d := 27; d <= 32; d++ {
				cases = append(cases, strconv.Itoa(y)+"-"+pad2(m)+"-"+pad2(d)+"T12:00:00.1Z")
			}
		}
	}
	for _, c := range cases {
		checkCanonicalDateTime(t, c)
	}
}

func FuzzCanonicalDateTime(f *testing.F) {
	f.Add("2020-02-25T18:52:21.2169889Z")
	f.Add("2020-02-29T00:00:00Z")
	f.Fuzz(checkCanonicalDateTime)
}

func checkCanonicalDateTime(t *testing.T, s string) {
	if !canonicalDateTime([]byte(strconv.Quote(s))) {
		return
	}
	tm, err := edm.ParseDateTimeOffset(s)
	if err != nil {
		t.Fatalf("%s kept, but it does not parse: %v", s, err)
	}
	if got := string(edm.AppendDateTimeOffset(nil, tm)); got != s {
		t.Fatalf("%s kept, but it is written %s", s, got)
	}
}

func pad2(i int) string { return strconv.Itoa(i/10) + strconv.Itoa(i%10) }
