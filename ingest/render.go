package ingest

import (
	"bytes"
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

// The kinds of stored bodies that have render scripts, as a store names
// them to a callvault.ScriptFunc, and their types.
const (
	KindSession = "session"
	KindSegment = "segment"

	sessionType = schema.CallRecordsNamespace + ".session"
	segmentType = schema.CallRecordsNamespace + ".segment"
)

// scriptType returns the qualified type of the bodies of a kind, or "" for
// a kind that has no render scripts.
func scriptType(kind string) string {
	switch kind {
	case KindSession:
		return sessionType
	case KindSegment:
		return segmentType
	}
	return ""
}

// CompileScripts gives each session and segment of r the scripts that
// render it as each version's default response (odata.CompileAll), so
// that serving a page of them copies bytes instead of merging each body
// with the schema. A body the compiler refuses gets none and is served
// the long way, with the same bytes.
func CompileScripts(r *callvault.Record) {
	cs := codecs()
	for i := range r.Sessions {
		s := &r.Sessions[i]
		s.Render = odata.CompileValid(cs, scriptType(KindSession), s.Body)
		for j := range s.Segments {
			g := &s.Segments[j]
			g.Render = odata.CompileValid(cs, scriptType(KindSegment), g.Body)
		}
	}
}

// Scripts is the callvault.ScriptFunc of this build: it compiles body, a
// stored session or segment (kind "session" or "segment"), as
// CompileScripts does at import, and reports whether that differs from
// render, the scripts stored with it now. Stores use it to give rows
// stored before render scripts existed, or by a build whose schema or
// script format differs (whose scripts this build refuses), the scripts a
// fresh import would store. A kind it does not know has no scripts.
//
// body must be a body the store holds, which the importer wrote as valid
// JSON.
func Scripts(kind string, body, render []byte) ([]byte, bool) {
	t := scriptType(kind)
	if t == "" {
		return nil, len(render) != 0
	}
	fresh := odata.CompileValid(codecs(), t, body)
	return fresh, !bytes.Equal(fresh, render)
}

var _ callvault.ScriptFunc = Scripts
