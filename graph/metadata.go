package graph

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/callvault/callvault/schema"
)

// metadataDocument builds the CSDL of what a version serves: the
// microsoft.graph types the callRecords namespace refers to, the namespace
// itself and its annotations, from the embedded files (the one source).
func metadataDocument(m *schema.Model) []byte {
	files, err := schema.CSDL(m.Version)
	if err != nil {
		panic(err) // embedded at build time
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	b.WriteString(`<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">` + "\n  <edmx:DataServices>\n")
	for i, f := range files {
		s := string(f)
		start := strings.Index(s, "<Schema ")
		end := strings.LastIndex(s, "</Schema>")
		if start < 0 || end < 0 {
			continue
		}
		body := dropForeignNavigation(m, s[start:end])
		b.WriteString("    ")
		b.WriteString(strings.TrimSpace(body))
		if i == len(files)-1 {
			b.WriteString("\n      ")
			b.Write(schema.Annotations())
		}
		b.WriteString("\n    </Schema>\n")
	}
	b.WriteString("  </edmx:DataServices>\n</edmx:Edmx>\n")
	return []byte(b.String())
}

var navProperty = regexp.MustCompile(`(?m)^\s*<NavigationProperty Name="[^"]*" Type="(?:Collection\()?([^")]+)\)?"[^>]*/>\n`)

// dropForeignNavigation removes navigation properties to types callvault
// does not serve (cloudCommunications' calls, presences…), so that the
// document refers only to types it defines.
func dropForeignNavigation(m *schema.Model, s string) string {
	return navProperty.ReplaceAllStringFunc(s, func(line string) string {
		typ := navProperty.FindStringSubmatch(line)[1]
		if m.Type(typ) == nil {
			return ""
		}
		return line
	})
}

// serveMetadata answers GET /{version}/$metadata. Like Graph's, it needs no
// token.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request, doc []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/xml;charset=utf-8")
	h["OData-Version"] = []string{"4.0"}
	s.writeComplete(w, r, http.StatusOK, doc)
}
