package graph_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
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
	"/beta/communications/callRecords/{k}/sessions/{k}/segments",
	"/v1.0/communications/callRecords/{k}/sessions/{k}/segments/{k}",
	"/beta/communications/callRecords/{k}/sessions/{k}/segments/$count",
	"/beta/communications/callRecords/{k}/participants_v2",
	"/beta/communications/callRecords/{k}/participants_v2/{k}",
	"/v1.0/communications/callRecords/{k}/organizer_v2",
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
// the answer says it is JSON, Graph's error envelope with a bounded
// message on every 4xx, and nothing of tenant B's.
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
		f.Add(uint8(r), seedID, "", "", "gzip")
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
	// The code may be empty: Graph's own answer to a query option on
	// /subscriptions has none. It must be there.
	var e struct {
		Error struct {
			Code    *string `json:"code"`
			Message string  `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == nil || e.Error.Message == "" {
		t.Fatalf("%s: %d without Graph's error envelope (%v):\n%.2000s", target, rec.Code, err, body)
	}
	// Messages quote what they refuse, clipped: an answer never grows
	// with the request.
	if len(body) > 4096 {
		t.Fatalf("%s: %d, an error of %d bytes:\n%.2000s", target, rec.Code, len(body), body)
	}
}

// FuzzIngest posts whatever body, content type and encoding the fuzzer
// makes to the ingest API, in process, and holds the answer to the API's
// promises: never a 5xx, Graph's error envelope on a 4xx, and on a 200 an
// outcome for every record that adds up, every record it says it stored
// readable, and the same body posted again inserting nothing and
// rejecting the same records (imports are idempotent).
func FuzzIngest(f *testing.F) {
	fx := newIngestFixture(f, true, 1<<20)
	tok, err := fx.signer.Mint(auth.TokenOptions{Tenant: tenantA, Roles: ingestRole, Now: now})
	if err != nil {
		f.Fatal(err)
	}
	recs := ingestRecords(3)
	array := append(append([]byte("["), bytes.Join(recs[:2], []byte(","))...), ']')
	// Small records, which the fuzzer mutates and minimizes quickly.
	small := func(id string, version int, sessions string) []byte {
		return fmt.Appendf(nil, `{"id":%q,"version":%d,"type":"groupCall","modalities":["audio"],"lastModifiedDateTime":"2024-06-01T10:00:00Z","startDateTime":"2024-06-01T09:00:00Z","endDateTime":"2024-06-01T09:30:00Z","sessions":[%s]}`, id, version, sessions)
	}
	session := `{"id":"s1","modalities":["audio"],"startDateTime":"2024-06-01T09:00:00Z","endDateTime":"2024-06-01T09:10:00Z","segments":[{"id":"g1","startDateTime":"2024-06-01T09:00:00Z","endDateTime":"2024-06-01T09:10:00Z"}]}`
	for _, seed := range []struct {
		body     []byte
		ct, enc  string
		compress bool
	}{
		{lines(small("a", 1, ""), small("b", 2, session), small("a", 3, session), small("b", 1, "")), "application/x-ndjson", "", false},
		{small("c", 1, session+","+session), "application/json", "", true},
		{lines(recs...), "application/x-ndjson", "", false},
		{lines(recs[0], []byte(`{"id":`), recs[1]), "application/x-ndjson", "", true},
		{array, "application/json", "", false},
		{append([]byte("\xef\xbb\xbf"), recs[2]...), "application/json; charset=utf-8", "", false},
		{[]byte(`{"@odata.type":"#microsoft.graph.callRecords.pstnCallLogRow","id":"r1"}`), "application/x-ndjson", "", false},
		{withVersion(recs[1], 0), "application/x-ndjson", "", false},
		{[]byte("[]"), "application/json", "", false},
		{[]byte("{}\n{}"), "text/plain", "", false},
		{recs[0], "application/x-ndjson", "br", false},
		{[]byte("\x1f\x8b\x08\x00"), "application/x-ndjson", "gzip", false},
	} {
		f.Add(seed.body, seed.ct, seed.enc, seed.compress)
	}
	post := func(t *testing.T, body []byte, ct, enc string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, graph.IngestPath, bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		checkAnswer(t, "POST "+graph.IngestPath, rec)
		return rec
	}
	f.Fuzz(func(t *testing.T, body []byte, ct, enc string, compress bool) {
		if compress {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(body)
			zw.Close()
			body, enc = zb.Bytes(), "gzip"
		}
		if strings.ContainsAny(ct+enc, "\r\n\x00") {
			return // not a header net/http would hand over
		}
		first := post(t, body, ct, enc)
		if first.Code != http.StatusOK {
			return
		}
		var a ingestAnswer
		if err := json.Unmarshal(first.Body.Bytes(), &a); err != nil {
			t.Fatalf("a 200 that is not the ingest answer (%v): %.2000s", err, first.Body)
		}
		if n := a.Inserted + a.Replaced + a.Stale + a.Rejected; n != len(a.Value) {
			t.Fatalf("the counts add up to %d for %d outcomes: %.2000s", n, len(a.Value), first.Body)
		}
		for _, v := range a.Value {
			if v.Outcome != "inserted" && v.Outcome != "replaced" {
				continue
			}
			if _, err := fx.store.GetRecord(context.Background(), tenantA, v.ID); err != nil {
				t.Fatalf("record %q answered %s is not readable: %v", v.ID, v.Outcome, err)
			}
		}
		again := post(t, body, ct, enc)
		var b ingestAnswer
		if again.Code != http.StatusOK || json.Unmarshal(again.Body.Bytes(), &b) != nil {
			t.Fatalf("the same body again: %d %.2000s", again.Code, again.Body)
		}
		if b.Inserted != 0 || b.Rejected != a.Rejected {
			t.Fatalf("the same body again inserted %d and rejected %d (first %d): %.2000s", b.Inserted, b.Rejected, a.Rejected, again.Body)
		}
	})
}
