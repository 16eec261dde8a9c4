package ui_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/synth"
)

// fuzzPages are the web view's pages and the analytics API, with {k}
// where the fuzzer's key goes (the demo meeting's id when it is empty).
var fuzzPages = []string{
	"/ui/",
	"/ui/breakdown",
	"/ui/calls",
	"/ui/calls/{k}",
	"/ui/export",
	"/ui/graph/communications/callRecords/{k}/sessions",
	"/ui/graph/beta/communications/callRecords/{k}",
	"/analytics/v1/streams",
	"/analytics/v1/dimensions",
	"/analytics/v1/metrics",
}

// FuzzPages asks the web view, signed in, and the analytics API, with a
// token, whatever query the fuzzer makes, over loopback, and fails on any
// 5xx (a panic is one) or an empty answer: a bad date, dimension or
// filter is the person's to correct, with a page that says so.
func FuzzPages(f *testing.F) {
	s := newSite(f)
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: time.Minute}
	link, err := s.SignInLink("")
	if err != nil {
		f.Fatal(err)
	}
	if res, err := web.Get(link); err != nil || res.StatusCode != 200 {
		f.Fatalf("sign-in: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	api := s.Client()

	window := "from=" + s.from + "&to=" + s.to
	for i, q := range []string{
		"", window, window + "&by=second.connection", window + "&poor=1", window + "&by=day&media=audio",
		window + "&by=first.platform&media=video&format=csv", "$select=id", "$expand=segments&$top=1",
		"from=2026-02-30&to=yesterday", "by=nope", "window=7d&user=x", "state=a&code=b&error=c",
		"from=" + s.to + "&to=" + s.from, "media=audio&media=video", "poor=2&by=", "%zz",
	} {
		f.Add(uint8(i), "", q)
		f.Add(uint8(i+3), synth.DemoMeetingID, q)
	}
	f.Fuzz(func(t *testing.T, page uint8, key, query string) {
		if key == "" {
			key = synth.DemoMeetingID
		}
		path := strings.ReplaceAll(fuzzPages[int(page)%len(fuzzPages)], "{k}", url.PathEscape(key))
		u := s.url + path
		if query != "" {
			u += "?" + query
		}
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			return // no client could send it
		}
		c := web
		if strings.HasPrefix(path, "/analytics/") {
			c = api
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatalf("%s: reading the answer: %v", u, err)
		}
		if res.StatusCode >= 500 {
			t.Fatalf("%s: %d\n%.2000s", u, res.StatusCode, body)
		}
		if len(body) == 0 && res.StatusCode != http.StatusNotModified && res.StatusCode/100 != 3 {
			t.Fatalf("%s: %d with an empty body", u, res.StatusCode)
		}
	})
}
