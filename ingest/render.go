package ingest

import (
	"sync"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// codecs are the encoders of the versions callvault serves, whose render
// scripts are stored beside each session and segment.
var codecs = sync.OnceValue(func() []*odata.Codec {
	return []*odata.Codec{odata.NewCodec(schema.MustLoad(schema.V1)), odata.NewCodec(schema.MustLoad(schema.Beta))}
})

const (
	sessionType = schema.CallRecordsNamespace + ".session"
	segmentType = schema.CallRecordsNamespace + ".segment"
)

// CompileScripts gives each session and segment of r the scripts that
// render it as each version's default response (odata.CompileAll), so
// that serving a page of them copies bytes instead of merging each body
// with the schema. A body the compiler refuses gets none and is served
// the long way, with the same bytes.
func CompileScripts(r *callvault.Record) {
	cs := codecs()
	for i := range r.Sessions {
		s := &r.Sessions[i]
		s.Render = odata.CompileValid(cs, sessionType, s.Body)
		for j := range s.Segments {
			g := &s.Segments[j]
			g.Render = odata.CompileValid(cs, segmentType, g.Body)
		}
	}
}
