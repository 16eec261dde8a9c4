package ingest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

type item struct {
	Raw  string
	Line int
}

func readAll(in string) ([]item, error) {
	r := NewReader(strings.NewReader(in))
	var out []item
	for {
		raw, line, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, item{strings.Join(strings.Fields(string(raw)), ""), line})
	}
}

func TestReaderTakesEveryShape(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []item
	}{
		{"JSON Lines", "{\"id\":\"a\"}\n\n{\"id\":\"b\"}\n", []item{{`{"id":"a"}`, 1}, {`{"id":"b"}`, 3}}},
		{"JSON Lines with a bad line", "{\"id\":\"a\"}\n{oops\n{\"id\":\"c\"}", []item{{`{"id":"a"}`, 1}, {`{oops`, 2}, {`{"id":"c"}`, 3}}},
		{"one pretty object", "{\n  \"id\": \"a\",\n  \"version\": 1\n}\n", []item{{`{"id":"a","version":1}`, 1}}},
		{"pretty objects one after the other", "{\n \"id\": \"a\"\n}\n\n{\n \"id\": \"b\"\n}", []item{{`{"id":"a"}`, 1}, {`{"id":"b"}`, 5}}},
		{"an array", "[\n  {\"id\": \"a\"},\n  {\n\"id\": \"b\"}\n]\n", []item{{`{"id":"a"}`, 2}, {`{"id":"b"}`, 3}}},
		{"JSON Lines with a bad first line", "{oops\n{\"id\":\"b\"}\n{\"id\":\"c\"}\n", []item{{`{oops`, 1}, {`{"id":"b"}`, 2}, {`{"id":"c"}`, 3}}},
		{"JSON Lines with garbage on the first line", "garbage\n{\"id\":\"b\"}\n", []item{{`garbage`, 1}, {`{"id":"b"}`, 2}}},
		{"JSON Lines after a byte order mark", "\ufeff{\"id\":\"a\"}\n{\"id\":\"b\"}\n", []item{{`{"id":"a"}`, 1}, {`{"id":"b"}`, 2}}},
		{"one object after a byte order mark", "\ufeff{\n  \"id\": \"a\"\n}\n", []item{{`{"id":"a"}`, 1}}},
		{"an array after a byte order mark", "\ufeff[{\"id\":\"a\"}]", []item{{`{"id":"a"}`, 1}}},
		{"objects one after the other on the first line", "{\"id\":\"a\"}{\"id\":\"b\"}\n{\"id\":\"c\"}\n", []item{{`{"id":"a"}`, 1}, {`{"id":"b"}`, 1}, {`{"id":"c"}`, 2}}},
		{"an empty array", "[]", nil},
		{"nothing", "  \n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestReaderStopsAtABrokenArray(t *testing.T) {
	got, err := readAll("[\n{\"id\":\"a\"},\n{\"id\":\n]")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 4 {
		t.Fatalf("got %v (%#v)", err, err)
	}
	if len(got) != 1 {
		t.Errorf("the record before the break is still read: %v", got)
	}
}

func TestReaderStopsAtAnObjectThatBreaksOffOnTheFirstLine(t *testing.T) {
	// An object that is cut short is a broken document, not a bad line,
	// even when a whole object follows: a body that breaks off stores nothing.
	_, err := readAll("{\"id\":\"a\",\n{\"id\":\"b\"}\n")
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a SyntaxError", err)
	}
}

func TestReaderLinesAcrossChunks(t *testing.T) {
	// Big enough that the decoder reads in several chunks.
	var b strings.Builder
	b.WriteString("[\n")
	for i := range 5000 {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "{\"id\":\"r%d\",\n \"version\": %d}", i, i)
	}
	b.WriteString("\n]")
	got, err := readAll(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5000 || got[4999].Line != 2+2*4999 {
		t.Errorf("got %d records, last %v", len(got), got[len(got)-1])
	}
}
