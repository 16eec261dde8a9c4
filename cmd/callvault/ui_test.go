package main

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/synth"
	"github.com/callvault/callvault/ui"
)

// serve --demo prints a one-time link to the web view; callvault ui prints
// another; callvault buildings import gives the analytics a building file.
func TestDemoSignInLinkUICommandAndBuildings(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "buildings.csv")
	os.WriteFile(file, []byte("10.0.0.0,Corp,8,HQ,Contoso,Office,,Oslo,0150,NO,,EMEA,1,0,0\n"), 0o600)
	if out, stderr, status := runCLI(t, "", "buildings", "import", "--data", data, "--tenant", synth.DemoTenant, file); status != 0 || !strings.Contains(out, "1 rows") {
		t.Fatalf("buildings import: %d %q %q", status, out, stderr)
	}
	if _, stderr, status := runCLI(t, "", "buildings", "import", "--data", data, "--tenant", synth.DemoTenant, "--endpoints", file); status != 1 || !strings.Contains(stderr, "15 columns, want 6") {
		t.Fatalf("a building file as endpoints: %d %q", status, stderr)
	}

	s := startServer(t, "--data", data, "--demo", "--demo-records", "30")
	var link, token string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for s.lines.Scan() {
			line := s.lines.Text()
			if rest, ok := strings.CutPrefix(line, "export TOKEN="); ok {
				token = rest
			}
			if strings.Contains(line, "/ui/signin?code=") {
				link = strings.TrimSpace(line)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve --demo printed no sign-in link within 60 s")
	}
	signIn := func(link string) (int, string) {
		jar, _ := cookiejar.New(nil)
		res, err := (&http.Client{Jar: jar, Timeout: 30 * time.Second}).Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if status, body := signIn(link); status != 200 || !strings.Contains(body, `id="total-streams"`) {
		t.Fatalf("the demo's link: %d %.300s", status, body)
	}
	if status, _ := signIn(link); status != 401 {
		t.Errorf("the demo's link worked twice: %d", status)
	}
	out, stderr, status := runCLI(t, "", "ui", "--data", data, "--tenant", synth.DemoTenant, "--url", s.url)
	if status != 0 {
		t.Fatalf("callvault ui: %d %s", status, stderr)
	}
	if status, _ := signIn(strings.TrimSpace(out)); status != 200 {
		t.Errorf("callvault ui's link: %d", status)
	}

	req, _ := http.NewRequest("GET", s.url+"/analytics/v1/streams?by=second.building&media=audio", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		Rows []struct{ Keys []string }
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 {
		t.Fatalf("analytics: %d %v", res.StatusCode, err)
	}
	var keys []string
	for _, r := range got.Rows {
		keys = append(keys, r.Keys[0])
	}
	if !strings.Contains(strings.Join(keys, ","), "HQ") {
		t.Errorf("no HQ building among %v", keys)
	}
}

// --ui-oidc-client-id follows serve's identity flags: the OIDC issuer's
// URL, or Entra ID's v2 authority of the first tenant; with the
// development issuer it is refused.
func TestUIOIDCFollowsTheIdentityFlags(t *testing.T) {
	config := func(args ...string) (*ui.OIDC, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		var id identityConfig
		id.register(fs)
		var c uiConfig
		c.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c.oidc("https://callvault.example/")
	}
	if o, err := config(); o != nil || err != nil {
		t.Errorf("without a client id: %v, %v", o, err)
	}
	o, err := config("--issuer", "oidc", "--issuer-url", "http://127.0.0.1:9/realms/x", "--ui-oidc-client-id", "cv")
	if err != nil || o.Issuer != "http://127.0.0.1:9/realms/x" || o.RedirectURL != "https://callvault.example/ui/oidc/callback" || o.Issuers == nil {
		t.Errorf("oidc: %+v, %v", o, err)
	}
	o, err = config("--issuer", "entra", "--tenant", "contoso.onmicrosoft.com,fabrikam.onmicrosoft.com", "--ui-oidc-client-id", "cv")
	if err != nil || o.Issuer != "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0" {
		t.Errorf("entra: %+v, %v", o, err)
	}
	if _, err := config("--ui-oidc-client-id", "cv"); err == nil {
		t.Error("the development issuer was accepted")
	}
}
