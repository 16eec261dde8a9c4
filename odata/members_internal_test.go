package odata

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/callvault/callvault/schema"
)

// TestMemberTableIsReadWhole checks that a merge with $select takes every
// entry of a stored body's member table, in order, and drops none: were
// the table not passed, or an entry out of step with the members, entries
// would be left.
func TestMemberTableIsReadWhole(t *testing.T) {
	codecs := []*Codec{NewCodec(schema.MustLoad(schema.V1)), NewCodec(schema.MustLoad(schema.Beta))}
	name := schema.CallRecordsNamespace + ".session"
	body := []byte(`{"@odata.type":"#microsoft.graph.callRecords.session",` +
		`"callee":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","identity":{"user":{"id":"u","displayName":"A \"quoted\" {name}"}},"userAgent":{"platform":"web"}},` +
		`"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"platform":"web","productFamily":"teams"}},` +
		`"endDateTime":"2026-01-01T10:00:00Z","failureInfo":null,"id":"s1","isTest":false,"modalities":["audio","video"],"startDateTime":"2026-01-01T09:00:00Z"}`)
	// The stored form, as the importer writes it: declared order, no nulls.
	body = codecs[1].Object(nil, codecs[1].Model.Type(name), body, nil, Options{OmitNulls: true}, false)
	blob := CompileAll(codecs, name, body)
	if blob == nil {
		t.Fatalf("no scripts for %s", body)
	}
	for _, c := range codecs {
		typ := c.Model.Type(name)
		for _, sel := range []string{"id,startDateTime", "caller", "modalities,endDateTime", "startDateTime"} {
			q, err := ParseQuery("$select="+sel, c.Model.Version, typ, Rules{Select: true})
			if err != nil {
				t.Fatal(err)
			}
			var m memberEnds
			got := c.objectStored(nil, typ, body, blob, q.Select, Options{}, &m)
			if want := c.Object(nil, typ, body, q.Select, Options{}, false); string(got) != string(want) {
				t.Errorf("%s $select=%s:\n got %s\nwant %s", c.Model.Version, sel, got, want)
			}
			if m.n != 0 || len(m.b) != 0 || m.prev != len(body)-1 {
				t.Errorf("%s $select=%s: %d entries left (%d bytes), the last end taken %d of %d: the table was not read whole",
					c.Model.Version, sel, m.n, len(m.b), m.prev, len(body)-1)
			}
		}
	}
}

// TestNotedEndsAreTheWalkedEnds: CompileAll builds the table from the ends
// its merge noted; they must be those a walk of the body finds, and ends
// that do not fit the body must be refused for a walk.
func TestNotedEndsAreTheWalkedEnds(t *testing.T) {
	codecs := []*Codec{NewCodec(schema.MustLoad(schema.V1)), NewCodec(schema.MustLoad(schema.Beta))}
	for _, tc := range []struct{ typ, raw string }{
		{"session", `{"id":"s1","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"web"}},"modalities":["audio"],"startDateTime":"2026-01-01T09:00:00Z"}`},
		{"segment", `{"id":"g","media":[{"label":"main-audio","streams":[{"streamId":"1","averageJitter":"PT0.01S"}]}],"startDateTime":"2026-01-01T09:00:00Z"}`},
		{"session", `{"id":"only"}`},
	} {
		name := schema.CallRecordsNamespace + "." + tc.typ
		body := codecs[1].Object(nil, codecs[1].Model.Type(name), []byte(tc.raw), nil, Options{OmitNulls: true}, false)
		blob := CompileAll(codecs, name, body)
		walked := appendMemberTable(nil, body, nil)
		if len(walked) == 0 || !bytes.HasSuffix(blob, walked) {
			t.Errorf("%s: CompileAll's table is not the walked one:\n blob % x\nwalk % x", body, blob, walked)
		}
		var m memberEnds
		if findMembers(&m, blob, body) == nil {
			t.Fatalf("%s: no table found", body)
		}
		var ends []int
		for range m.n {
			d, w := binary.Uvarint(m.b)
			m.b, m.prev = m.b[w:], m.prev+int(d)
			ends = append(ends, m.prev)
		}
		if !fits(body, ends) {
			t.Errorf("%s: its own ends %v do not fit", body, ends)
		}
		for _, bad := range [][]int{nil, ends[:len(ends)-1], append([]int{1}, ends...), {len(body) - 1, len(body) - 1}} {
			if len(bad) > 0 && slices.Equal(bad, ends) {
				continue
			}
			if fits(body, bad) {
				t.Errorf("%s: ends %v fit", body, bad)
			}
			if got := appendMemberTable(nil, body, bad); !bytes.Equal(got, walked) {
				t.Errorf("%s: with the ends %v, the table is % x, not the walked % x", body, bad, got, walked)
			}
		}
	}
}
