package graph_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callvault/callvault/auth"
)

// fuzzRoutes are the read API's routes, with {k} where the fuzzer's key
// goes (the meeting's id when the key is empty).
var fuzzRoutes = []string{
	"/v1.0/communications/callRecords",
	"/beta/communications/callRecords",
	"/v1.0/communications/callRecords/{k}",
	"/beta/communications/callRecords('{k}')",
	"/v1.0/communications/callRecords/{k}/sessions",
	"/beta/communications/callRecords/{k}/sessions",
	"/beta/communications/callRecords('{k}')/sessions/$count",
	"/v1.0/communications/callRecords/{k}/sessions/{k}",
	"/beta/communications/callRecords/{k}/participants_v2",
	"/beta/communications/callRecords/getPstnCalls(fromDateTime={k},toDateTime=2019-12-01T00:00:00Z)",
	"/v1.0/communications/callRecords/getSmsLog(fromDateTime=2022-10-01,toDateTime={k})",
	"/beta/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)",
	"/v1.0/subscriptions/{k}",
	"/v1.0/subscriptions",
	"/{k}/communications/callRecords",
}

// FuzzRequest sends the read API whatever request line and headers the
// fuzzer makes, as tenant A, in process, and holds every answer to the
// rules a client relies on: never a 5xx (a panic is one), JSON whenever
// the answer says it is JSON, Graph's error envelope with a code and a
// bounded message on every 4xx, and nothing of tenant B's.
//
// The request is parsed by http.ReadRequest from the bytes a client would
// send, so the handler sees exactly what net/http would hand it; what
// ReadRequest refuses, net/http answers itself before any handler runs.
func FuzzRequest(f *testing.F) {
	fx := newFixture(f, nil)
	handler := fx.srv.Handler()
	token := fx.token(f, auth.TokenOptions{Tenant: tenantA})

	// A real cursor, for the fuzzer to tamper with.
	first := serveRaw(f, handler, "GET "+sessionsPath("v1.0", meetingID)+" HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer "+token+"\r\nPrefer: odata.maxpagesize=2\r\n\r\n")
	var page struct {
		Next string `json:"@odata.nextLink"`
	}
	if err := json.Unmarshal(first.Body.Bytes(), &page); err != nil || page.Next == "" {
		f.Fatalf("no next link on the meeting's first page (%v): %s", err, first.Body)
	}
	cursor := page.Next[strings.Index(page.Next, "?")+1:]

	for i, query := range []string{
		"", "$expand=segments", "$select=id,startDateTime", "$select=id&$expand=segments($select=id,media)",
		"$top=5&$skip=2", "$count=true", "$filter=startDateTime ge 2024-05-01T00:00:00Z",
		"$filter=participants_v2/any(p:p/id eq 'x')", "$expand=sessions($expand=segments;$select=id)",
		"$orderby=id", "$skiptoken=AAAA", cursor, cursor + "&$select=id", "%24expand=segments&%24top=1",
		"$select=" + strings.Repeat("id,", 40), "$expand=segments($expand=segments)", "$format=json",
	} {
		for j, key := range []string{"", seedID, "x'y", "%2F..%2F", "getPstnCalls()"} {
			f.Add(uint8(i+j), key, query, "odata.maxpagesize=1", "gzip")
		}
	}
	for r := range fuzzRoutes {
		f.Add(uint8(r), "", "", "", "")
		f.Add(uint8(r), seedID, "$top=2", "odata.maxpagesize=1", "gzip")
	}
	f.Add(uint8(0), "v1.0", "", "", "")
	f.Add(uint8(4), "", cursor, "include-unknown-enum-members, omit-values=nulls", "")
	f.Add(uint8(5), "", "$expand=segments", "odata.maxpagesize=0", "identity;q=0, *;q=0")
	f.Add(uint8(6), "", "", "return=minimal\r\nPrefer: odata.maxpagesize=70", "br, gzip;q=0.5")

	f.Fuzz(func(t *testing.T, route uint8, key, query, prefer, encoding string) {
		if key == "" {
			key = meetingID
		}
		target := strings.ReplaceAll(fuzzRoutes[int(route)%len(fuzzRoutes)], "{k}", key)
		if query != "" {
			target += "?" + query
		}
		var raw strings.Builder
		raw.WriteString("GET " + target + " HTTP/1.1\r\nHost: graph.microsoft.com\r\nAuthorization: Bearer " + token + "\r\n")
		if prefer != "" {
			raw.WriteString("Prefer: " + prefer + "\r\n")
		}
		if encoding != "" {
			raw.WriteString("Accept-Encoding: " + encoding + "\r\n")
		}
		raw.WriteString("\r\n")
		rec := serveRaw(t, handler, raw.String())
		if rec == nil {
			return // net/http refuses it before any handler
		}
		checkAnswer(t, target, rec)
	})
}

// serveRaw parses raw as net/http's server would and serves it; nil when
// the request does not parse.
func serveRaw(tb testing.TB, h http.Handler, raw string) *httptest.ResponseRecorder {
	tb.Helper()
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return nil
	}
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails t when rec breaks a rule of FuzzRequest.
func checkAnswer(t *testing.T, target string, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %d with Content-Encoding: gzip, not gzip: %v", target, rec.Code, err)
		}
		if body, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %d, a broken gzip stream: %v", target, rec.Code, err)
		}
	}
	if rec.Code >= 500 {
		t.Fatalf("%s: %d\n%.2000s", target, rec.Code, body)
	}
	if bytes.Contains(body, []byte("only-in-b")) {
		t.Fatalf("%s: tenant A was answered with tenant B's session:\n%.2000s", target, body)
	}
	if strings.Contains(rec.Header().Get("Content-Type"), "json") && !json.Valid(body) {
		t.Fatalf("%s: %d, a JSON answer that is not JSON:\n%.2000s", target, rec.Code, body)
	}
	if rec.Code < 400 {
		return
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: %d without Graph's error envelope (%v):\n%.2000s", target, rec.Code, err, body)
	}
	// Messages quote what they refuse, clipped: an answer never grows
	// with the request.
	if len(body) > 4096 {
		t.Fatalf("%s: %d, an error of %d bytes:\n%.2000s", target, rec.Code, len(body), body)
	}
}
