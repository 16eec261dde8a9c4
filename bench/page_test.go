package bench

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callvault/callvault/odata"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark measures
// the server and not a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkSessionsPage serves pages of the meeting through the real
// handler (authentication, query parsing, store, encoder), in process with
// no network, and the baseline: the same response bytes written from
// memory by a bare handler. Their ratio is callvault's cost over the cost
// of just writing the response; cmd/loadtest measures the same over
// loopback.
func BenchmarkSessionsPage(b *testing.B) {
	f := getFixture(b)
	const sessionsURL = "/v1.0/communications/callRecords/" + meeting + "/sessions"
	request := func(uri, acceptEncoding string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, uri, nil)
		r.Header.Set("Authorization", "Bearer "+f.token)
		if acceptEncoding != "" {
			r.Header.Set("Accept-Encoding", acceptEncoding)
		}
		return r
	}
	get := func(b *testing.B, uri, acceptEncoding string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.handler.ServeHTTP(rec, request(uri, acceptEncoding))
		return rec
	}
	// The last page, by its next links.
	deep := sessionsURL + "?$expand=segments"
	for range sessions/pageSize - 1 {
		rec := get(b, deep, "")
		next := nextLink(rec.Body.String())
		if rec.Code != 200 || next == "" {
			b.Fatalf("%d %.300s", rec.Code, rec.Body)
		}
		deep = strings.TrimPrefix(next, "https://graph.microsoft.com")
	}
	for _, tc := range []struct{ name, uri, acceptEncoding string }{
		{"expand-page1", sessionsURL + "?$expand=segments", ""},
		{"expand-page20", deep, ""},
		// The same page again and again: its compressed form is cached.
		{"expand-page1-gzip", sessionsURL + "?$expand=segments", "gzip"},
		{"no-expand", sessionsURL, ""},
		{"select", sessionsURL + "?$select=id,startDateTime", ""},
		{"not-found", "/v1.0/communications/callRecords/" + meeting[:len(meeting)-1] + "0/sessions", ""},
	} {
		rec := get(b, tc.uri, tc.acceptEncoding)
		if rec.Code != 200 && tc.name != "not-found" {
			b.Fatalf("%s: %d %.300s", tc.name, rec.Code, rec.Body)
		}
		body := rec.Body.Bytes()
		baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", odata.ContentType)
			if tc.acceptEncoding != "" {
				w.Header().Set("Content-Encoding", "gzip")
			}
			w.Write(body)
		})
		b.Run("case="+tc.name+"/server=callvault", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				f.handler.ServeHTTP(&discard{h: http.Header{}}, request(tc.uri, tc.acceptEncoding))
			}
		})
		b.Run("case="+tc.name+"/server=baseline", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				baseline.ServeHTTP(&discard{h: http.Header{}}, request(tc.uri, tc.acceptEncoding))
			}
		})
	}
}

// nextLink returns the @odata.nextLink of a page, or "".
func nextLink(body string) string {
	const key = `"@odata.nextLink":"`
	i := strings.LastIndex(body, key)
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return rest[:end]
}
