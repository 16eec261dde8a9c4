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

// renderPage writes the sessions of a page, segments expanded, as the
// sessions handler does for a default request: each body from its
// precompiled render script (odata.CompileAll), the merge only for a body
// without one.
func renderPage(buf []byte, codec *odata.Codec, session, segment *schema.Type, page *callvault.SessionPage, scripts *pageScripts) []byte {
	for i, row := range page.Sessions {
		if i > 0 {
			buf = append(buf, ',')
		}
		var ok bool
		if buf, ok = codec.RenderStored(buf, scripts.sessions[i], row.Body); ok {
			buf = buf[:len(buf)-1] // open, for the segments
		} else {
			buf = codec.Object(buf, session, row.Body, nil, odata.Options{}, true)
		}
		if buf[len(buf)-1] != '{' {
			buf = append(buf, ',')
		}
		buf = append(buf, `"segments":[`...)
		for j, seg := range row.Segments {
			if j > 0 {
				buf = append(buf, ',')
			}
			if buf, ok = codec.RenderStored(buf, scripts.segments[i][j], seg.Body); !ok {
				buf = codec.Object(buf, segment, seg.Body, nil, odata.Options{}, false)
			}
		}
		buf = append(buf, "]}"...)
	}
	return buf
}

// pageScripts are the render scripts of a page's sessions and segments,
// for every version, as the importer stores them.
type pageScripts struct {
	sessions [][]byte
	segments [][][]byte
	bodies   int // bytes of the bodies
	scripts  int // bytes of their scripts, all versions
	count    int // bodies
}

func compilePage(tb testing.TB, page *callvault.SessionPage) *pageScripts {
	codecs := []*odata.Codec{odata.NewCodec(schema.MustLoad(schema.V1)), odata.NewCodec(schema.MustLoad(schema.Beta))}
	ps := &pageScripts{}
	add := func(typ string, body []byte) []byte {
		s := odata.CompileAll(codecs, schema.CallRecordsNamespace+"."+typ, body)
		if s == nil {
			tb.Fatalf("no script for a stored %s: %s", typ, body)
		}
		ps.bodies += len(body)
		ps.scripts += len(s)
		ps.count++
		return s
	}
	for _, row := range page.Sessions {
		ps.sessions = append(ps.sessions, add("session", row.Body))
		var segs [][]byte
		for _, seg := range row.Segments {
			segs = append(segs, add("segment", seg.Body))
		}
		ps.segments = append(ps.segments, segs)
	}
	return ps
}

// BenchmarkRenderPage writes the page BenchmarkEncodePage's query=expand
// writes, the same bytes, from render scripts instead of merging. script-%
// is the size of the scripts of both versions as a share of the bodies'.
func BenchmarkRenderPage(b *testing.B) {
	f := getFixture(b)
	page := f.page(b, 0, true)
	scripts := compilePage(b, page)
	for _, v := range []string{schema.V1, schema.Beta} {
		codec := odata.NewCodec(schema.MustLoad(v))
		session := codec.Model.Type(schema.CallRecordsNamespace + ".session")
		segment := codec.Model.Type(schema.CallRecordsNamespace + ".segment")
		q, err := odata.ParseQuery("$expand=segments", v, session, sessionRules)
		if err != nil {
			b.Fatal(err)
		}
		var scratch [][]byte
		want := encodePage(nil, codec, session, q, odata.Options{}, page, &scratch)
		b.Run("version="+v, func(b *testing.B) {
			buf := renderPage(nil, codec, session, segment, page, scripts)
			if string(buf) != string(want) {
				b.Fatalf("the rendered page differs from the merged one at byte %d", firstDiff(buf, want))
			}
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = renderPage(buf[:0], codec, session, segment, page, scripts)
			}
			b.ReportMetric(float64(len(page.Sessions))*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
			b.ReportMetric(100*float64(scripts.scripts)/float64(scripts.bodies), "script-%")
			b.ReportMetric(float64(scripts.scripts)/float64(scripts.count), "script-B/body")
		})
	}
}

// BenchmarkCompilePage compiles the render scripts of a page's sessions and
// segments for both versions, as the importer does: what scripts add to
// an import (CompileValid, as ingest calls it), per body.
func BenchmarkCompilePage(b *testing.B) {
	f := getFixture(b)
	page := f.page(b, 0, true)
	codecs := []*odata.Codec{odata.NewCodec(schema.MustLoad(schema.V1)), odata.NewCodec(schema.MustLoad(schema.Beta))}
	session, segment := schema.CallRecordsNamespace+".session", schema.CallRecordsNamespace+".segment"
	bodies := 0
	b.ReportAllocs()
	for b.Loop() {
		bodies = 0
		for _, row := range page.Sessions {
			odata.CompileValid(codecs, session, row.Body)
			for _, seg := range row.Segments {
				odata.CompileValid(codecs, segment, seg.Body)
			}
			bodies += 1 + len(row.Segments)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N)/float64(bodies), "ns/body")
}
