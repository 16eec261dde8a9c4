package bench

import (
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// sessionRules are the query rules of the sessions resource, as package
// graph declares them.
var sessionRules = odata.Rules{
	Resource:  "/communications/callRecords/{id}/sessions",
	Select:    true,
	Expand:    map[string]bool{"segments": true},
	SkipToken: true,
}

// encodeQueries are the query shapes the encoder benchmarks write a page in.
var encodeQueries = []struct {
	name string
	raw  string
	opts odata.Options
}{
	{"expand", "$expand=segments", odata.Options{}},
	{"expand-omit-nulls", "$expand=segments", odata.Options{OmitNulls: true, IncludeUnknownEnums: true}},
	{"no-expand", "", odata.Options{}},
	{"select", "$select=id,startDateTime", odata.Options{}},
}

// encodePage writes the sessions of a page as the sessions handler does.
func encodePage(buf []byte, codec *odata.Codec, session *schema.Type, q *odata.Query, o odata.Options, page *callvault.SessionPage, scratch *[][]byte) []byte {
	segments := q.Expanded("segments")
	var navs [1]odata.Nav
	for i, row := range page.Sessions {
		if i > 0 {
			buf = append(buf, ',')
		}
		if segments == nil {
			buf = codec.Entity(buf, session, row.Body, q.Select, o)
			continue
		}
		bodies := (*scratch)[:0]
		for _, seg := range row.Segments {
			bodies = append(bodies, seg.Body)
		}
		*scratch = bodies
		navs[0] = odata.Nav{Property: segments.Property, Select: segments.Select, Bodies: bodies}
		buf = codec.Entity(buf, session, row.Body, q.Select, o, navs[:]...)
	}
	return buf
}

// BenchmarkEncodePage writes page 1 of the meeting (60 sessions read once
// from the store) with odata.Codec, in each version and query shape, into a
// reused buffer. B/s is output bytes per second; allocs/op is per page.
func BenchmarkEncodePage(b *testing.B) {
	f := getFixture(b)
	page := f.page(b, 0, true)
	for _, v := range []string{schema.V1, schema.Beta} {
		codec := odata.NewCodec(schema.MustLoad(v))
		session := codec.Model.Type(schema.CallRecordsNamespace + ".session")
		for _, tc := range encodeQueries {
			q, err := odata.ParseQuery(tc.raw, v, session, sessionRules)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("version="+v+"/query="+tc.name, func(b *testing.B) {
				var scratch [][]byte
				buf := encodePage(nil, codec, session, q, tc.opts, page, &scratch)
				b.SetBytes(int64(len(buf)))
				b.ReportAllocs()
				for b.Loop() {
					buf = encodePage(buf[:0], codec, session, q, tc.opts, page, &scratch)
				}
				b.ReportMetric(float64(len(page.Sessions))*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
			})
		}
	}
}
