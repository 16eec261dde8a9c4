package graph_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/callvault/callvault/auth"
)

// plainClient never asks for compression, so that the goldens hold the
// bytes a client that sends no Accept-Encoding gets. (Go's default
// transport asks for gzip and decompresses unasked.)
var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// TestGzipResponsesAreTheGoldens asks for gzip and checks each response
// against the plain golden of the same request: the same status, headers
// and (decompressed) body, plus Content-Encoding, Vary and the compressed
// length.
func TestGzipResponsesAreTheGoldens(t *testing.T) {
	if *update {
		t.Skip("the goldens are written by the plain requests")
	}
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
	}{
		{name: "v1.0 list", path: sessionsPath("v1.0", seedID)},
		{name: "expand segments", path: sessionsPath("v1.0", seedID) + "?$expand=segments"},
		{name: "select", path: sessionsPath("v1.0", seedID) + "?$select=id,startDateTime,caller"},
		{name: "beta expand segments of a meeting", path: sessionsPath("beta", meetingID) + "?$expand=segments"},
		{name: "omit nulls", path: sessionsPath("v1.0", meetingID) + "?$expand=segments", headers: map[string]string{"Prefer": "omit-values=nulls"}},
		{name: "the record itself", path: "/v1.0/communications/callRecords/" + seedID},
		{name: "error POST", method: http.MethodPost, path: sessionsPath("v1.0", seedID)},
		{name: "error unknown select property", path: sessionsPath("v1.0", seedID) + "?$select=id,colour"},
		{name: "error garbage token", path: sessionsPath("v1.0", seedID), headers: map[string]string{"Authorization": "Bearer not-a-token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			headers := map[string]string{"Accept-Encoding": "gzip"}
			for k, v := range tc.headers {
				headers[k] = v
			}
			resp := f.do(t, method, tc.path, headers)
			if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", got)
			}
			if got := resp.Header.Values("Vary"); !strings.EqualFold(strings.Join(got, ","), "Accept-Encoding") {
				t.Errorf("Vary %q, want Accept-Encoding", got)
			}
			wire, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(wire)) {
				t.Errorf("Content-Length %s, but %d bytes came", cl, len(wire))
			}
			zr, err := gzip.NewReader(bytes.NewReader(wire))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("the body does not decompress: %v", err)
			}
			if len(plain) <= len(wire) {
				t.Errorf("compressed %d bytes to %d", len(plain), len(wire))
			}
			// Render it as the plain response would be: without the
			// encoding, with the plain length.
			resp.Header.Del("Content-Encoding")
			resp.Header.Set("Content-Length", strconv.Itoa(len(plain)))
			resp.Body = io.NopCloser(bytes.NewReader(plain))
			want, err := os.ReadFile(filepath.Join("testdata", "golden", strings.ReplaceAll(tc.name, " ", "-")+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			if got := render(t, resp); !bytes.Equal(sameIDs(got), sameIDs(want)) {
				t.Errorf("decompressed response differs from the plain golden:\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

// sameIDs blanks the fixture's request ids, which count the requests of a
// test.
func sameIDs(b []byte) []byte {
	return regexp.MustCompile(`00000000-0000-4000-8000-\d{12}`).ReplaceAll(b, []byte("ID"))
}

// TestGzipOnlyWhenAccepted: identity, absent, a zero q-value and small
// bodies get the plain bytes; q-values and wildcards are honoured.
func TestGzipOnlyWhenAccepted(t *testing.T) {
	f := newFixture(t, nil)
	list := sessionsPath("v1.0", seedID)
	for _, tc := range []struct {
		path, acceptEncoding string
		gzip, vary           bool
	}{
		{list, "", false, true},
		{list, "identity", false, true},
		{list, "gzip", true, true},
		{list, "GZIP", true, true},
		{list, "x-gzip", true, true},
		{list, "gzip;q=0", false, true},
		{list, "gzip; q=0.000", false, true},
		{list, "gzip;q=0.5", true, true},
		{list, "br, deflate", false, true},
		{list, "br, deflate, gzip", true, true},
		{list, "*", true, true},
		{list, "*;q=0", false, true},
		{list, "gzip;q=0, *", false, true},
		{list, "identity;q=1, *;q=0.1", true, true},
		{list + "/$count", "gzip", false, false}, // a few bytes
	} {
		t.Run(tc.path+" "+tc.acceptEncoding, func(t *testing.T) {
			headers := map[string]string{}
			if tc.acceptEncoding != "" {
				headers["Accept-Encoding"] = tc.acceptEncoding
			}
			resp := f.do(t, http.MethodGet, tc.path, headers)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
				t.Errorf("compressed: %v, want %v", got, tc.gzip)
			}
			if got := resp.Header.Get("Vary") == "Accept-Encoding"; got != tc.vary {
				t.Errorf("Vary: Accept-Encoding: %v, want %v", got, tc.vary)
			}
			if !tc.gzip && bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
				t.Error("a plain response starts with gzip's magic bytes")
			}
		})
	}
}

// TestGoTransportDecompresses: Go's default transport, which the SDKs
// use, asks for gzip unasked and gets the plain body back.
func TestGoTransportDecompresses(t *testing.T) {
	f := newFixture(t, nil)
	path := sessionsPath("v1.0", seedID) + "?$expand=segments"
	plain := f.do(t, http.MethodGet, path, nil)
	want, _ := io.ReadAll(plain.Body)
	plain.Body.Close()

	req, _ := http.NewRequest(http.MethodGet, f.server.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+f.token(t, auth.TokenOptions{Tenant: tenantA}))
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		t.Fatal(err)
	case !resp.Uncompressed:
		t.Error("Go's transport did not get a gzip response to decompress")
	case !bytes.Equal(got, want):
		t.Error("the body Go's transport decompressed differs from the plain one")
	}
}
