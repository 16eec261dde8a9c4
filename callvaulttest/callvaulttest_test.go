package callvaulttest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/callvaulttest"
	"github.com/callvault/callvault/synth"
)

func get(t *testing.T, c *http.Client, u string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func TestDemoServerPagesTheMeeting(t *testing.T) {
	srv := callvaulttest.Start(t, callvaulttest.Options{Demo: true})
	if srv.Tenant != synth.DemoTenant {
		t.Errorf("tenant %s, want the demo's", srv.Tenant)
	}
	next := srv.URL + "/v1.0/communications/callRecords/" + synth.DemoMeetingID + "/sessions"
	sessions, pages := 0, 0
	for next != "" {
		status, body := get(t, srv.Client(), next)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", next, status, body)
		}
		var page struct {
			Next  string `json:"@odata.nextLink"`
			Value []any  `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(page.Next, srv.URL) && page.Next != "" {
			t.Errorf("the next link %s is not on the server's URL", page.Next)
		}
		sessions += len(page.Value)
		pages++
		next = page.Next
	}
	if sessions != 150 || pages != 3 {
		t.Errorf("%d sessions in %d pages, want 150 in 3", sessions, pages)
	}
}

func TestTokensAndTenants(t *testing.T) {
	srv := callvaulttest.Start(t, callvaulttest.Options{Tenant: "t1", Records: [][]byte{[]byte(record)}})
	u := srv.URL + "/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5"
	if status, body := get(t, srv.Client(), u); status != 200 {
		t.Errorf("the client's token: %d %s", status, body)
	}
	if status, _ := get(t, http.DefaultClient, u); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
	other, err := srv.Token("t2")
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, srv.Client(), u, "Authorization", "Bearer "+other); status != 404 {
		t.Errorf("another tenant's token: %d, want 404", status)
	}
	noRole, err := srv.Token("", "Other.Read.All")
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := get(t, srv.Client(), u, "Authorization", "Bearer "+noRole); status != 403 {
		t.Errorf("a token without the role: %d, want 403", status)
	}
}

func TestRegisteredAppGetsATokenFromTheIssuer(t *testing.T) {
	srv := callvaulttest.Start(t, callvaulttest.Options{Records: [][]byte{[]byte(record)}})
	id, secret, err := srv.RegisterApp("reporting")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(srv.URL+"/"+srv.Tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, err)
	}
	u := srv.URL + "/v1.0/communications/callRecords/e523d2ed-2966-4b6b-925b-754a88034cc5"
	if status, body := get(t, http.DefaultClient, u, "Authorization", "Bearer "+tok.AccessToken); status != 200 {
		t.Errorf("the issued token: %d %s", status, body)
	}
}

func TestBadRecordsFailTheStart(t *testing.T) {
	_, err := callvaulttest.NewServer(callvaulttest.Options{Records: [][]byte{[]byte(`{"id":"x","type":"conference"}`)}})
	if err == nil || !strings.Contains(err.Error(), "conference") {
		t.Errorf("got %v, want the record's rejection", err)
	}
}

func TestCloseRemovesTheTemporaryDirectory(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir, where the server makes its directory
	srv, err := callvaulttest.NewServer(callvaulttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("%d entries left in the temporary directory", len(left))
	}
	if _, err := http.Get(srv.URL + "/healthz"); err == nil {
		t.Error("the server still answers after Close")
	}
}

// The server's clock and retention hold on every surface, and the web
// view and the analytics API are served, as by serve.
func TestClockRetentionAndTheWebView(t *testing.T) {
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	meeting := "/v1.0/communications/callRecords/" + synth.DemoMeetingID
	srv := callvaulttest.Start(t, callvaulttest.Options{Demo: true, Now: clock})
	if status, body := get(t, srv.Client(), srv.URL+meeting+"?$select=startDateTime"); status != 200 || !strings.Contains(string(body), `"startDateTime":"2026-08-`) {
		t.Errorf("the demo meeting, seeded on the clock's day: %d %s", status, body)
	}
	if status, body := get(t, srv.Client(), srv.URL+"/analytics/v1/streams?media=audio"); status != 200 || !strings.Contains(string(body), `"streams":`) {
		t.Errorf("the analytics API: %d %.200s", status, body)
	}
	link, err := srv.SignInLink("/ui/calls")
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	if status, body := get(t, &http.Client{Jar: jar}, link); status != 200 || !strings.Contains(string(body), synth.DemoMeetingID) {
		t.Errorf("signed in to the list of calls: %d", status)
	}
	gone := callvaulttest.Start(t, callvaulttest.Options{Demo: true, Now: clock, Retention: time.Hour})
	if status, _ := get(t, gone.Client(), gone.URL+meeting); status != 404 {
		t.Errorf("under an hour's retention the meeting of days ago: %d, want 404", status)
	}
}
