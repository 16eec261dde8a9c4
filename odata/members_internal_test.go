package odata

import (
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
