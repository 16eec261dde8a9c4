package mirror

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/throttle"
	"github.com/golang-jwt/jwt/v5"
)

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }

// fakeClock is a clock that sleeping advances.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

// answers serves the statuses in turn (then 200 {}), each with its
// Retry-After when it has one ("429:2.5").
func answers(t *testing.T, list ...string) (*httptest.Server, *int) {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := calls
		calls++
		mu.Unlock()
		if i >= len(list) {
			io.WriteString(w, `{"value":[]}`)
			return
		}
		status, ra, _ := strings.Cut(list[i], ":")
		message := "m"
		if ra == "empty" {
			ra, message = "", ""
		}
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		var code int
		fmt.Sscan(status, &code)
		w.WriteHeader(code)
		io.WriteString(w, `{"error":{"code":"Err","message":"`+message+`"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func newClient(base string, clock *fakeClock) *Client {
	return &Client{Base: base + "/beta", Tokens: staticToken("t"), HTTP: outbound.Policy{AllowHTTP: true}.Client(5 * time.Second),
		Now: clock.Now, Sleep: clock.Sleep, Tenant: "t", App: "a"}
}

func TestRetriesHonourTheSource(t *testing.T) {
	for _, c := range []struct {
		name    string
		answers []string
		waits   []time.Duration // exact, or, for backoffs, the lower bound
		backoff bool
		fail    string
	}{
		{name: "a 429's Retry-After is waited exactly", answers: []string{"429:2"}, waits: []time.Duration{2 * time.Second}},
		{name: "a fractional Retry-After is waited whole", answers: []string{"429:2.128"}, waits: []time.Duration{2128 * time.Millisecond}},
		{name: "a 503 with Retry-After waits it", answers: []string{"503:3"}, waits: []time.Duration{3 * time.Second}},
		{name: "a 504 without backs off", answers: []string{"504", "504"}, waits: []time.Duration{time.Second, 2 * time.Second}, backoff: true},
		{name: "a 404 that says why is not retried", answers: []string{"404:"}, fail: "404"},
		{name: "a 403 that says why is not retried", answers: []string{"403:"}, fail: "403"},
		{name: "a 403 with an empty message, as Graph gives in incidents, is retried", answers: []string{"403:empty"}, waits: []time.Duration{time.Second}, backoff: true},
		{name: "no request is retried forever", answers: []string{"503", "503", "503", "503", "503", "503", "503", "503", "503"}, fail: "gave up after 8 attempts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, calls := answers(t, c.answers...)
			clock := &fakeClock{now: time.Unix(1e9, 0)}
			cl := newClient(srv.URL, clock)
			_, err := cl.Get(context.Background(), "communications/callRecords")
			if c.fail != "" {
				if err == nil || !strings.Contains(err.Error(), c.fail) {
					t.Fatalf("err %v, want one with %q", err, c.fail)
				}
				if c.fail == "404" && (!NotFound(err) || *calls != 1) {
					t.Errorf("a 404: NotFound %v after %d calls", NotFound(err), *calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(clock.slept) != len(c.waits) {
				t.Fatalf("slept %v, want %v", clock.slept, c.waits)
			}
			for i, w := range c.waits {
				got := clock.slept[i]
				if (!c.backoff && got != w) || (c.backoff && (got < w || got > w+w/4)) {
					t.Errorf("wait %d: %v, want %v", i, got, w)
				}
			}
		})
	}
}

func TestTheLimiterKeepsUnderTheBuckets(t *testing.T) {
	srv, calls := answers(t)
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	cl := newClient(srv.URL, clock)
	cl.Limits = throttle.Limits{CallRecord: throttle.Limit{Requests: 2, Window: 20 * time.Second}}
	for range 3 {
		if _, err := cl.Get(context.Background(), "communications/callRecords/r1/sessions"); err != nil {
			t.Fatal(err)
		}
	}
	if *calls != 3 || len(clock.slept) != 1 || clock.slept[0] != 20*time.Second {
		t.Errorf("%d calls, slept %v; want the third to wait 20s", *calls, clock.slept)
	}
	// Another record has a bucket of its own.
	if _, err := cl.Get(context.Background(), "communications/callRecords/r2"); err != nil || len(clock.slept) != 1 {
		t.Errorf("another record waited: %v %v", clock.slept, err)
	}
}

// TestTheLimiterCountsFromTheAnswer: a request the source was slow to
// answer (its first, say, behind a TLS handshake) may have arrived as late
// as its answer, so its slot in the bucket is held until a window after the
// answer, not after the request was sent.
func TestTheLimiterCountsFromTheAnswer(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			clock.mu.Lock()
			clock.now = clock.now.Add(3 * time.Second) // the first answer comes 3 s later
			clock.mu.Unlock()
		}
		io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	cl := newClient(srv.URL, clock)
	cl.Limits = throttle.Limits{CallRecord: throttle.Limit{Requests: 2, Window: 20 * time.Second}}
	for range 3 {
		if _, err := cl.Get(context.Background(), "communications/callRecords/r1/sessions"); err != nil {
			t.Fatal(err)
		}
	}
	// The first answer came at +3 s and the second at +3 s: the third
	// waits until +23 s. Counted from when the first was sent it would go
	// at +20 s, and a source that counted the first on arrival at +3 s
	// would refuse it.
	if calls != 3 || len(clock.slept) != 1 || clock.slept[0] != 20*time.Second {
		t.Errorf("%d calls, slept %v; want the third to wait until a window after the first answer (20s)", calls, clock.slept)
	}
}

func TestLinksAreRebasedOntoTheSource(t *testing.T) {
	cl := &Client{Base: "https://127.0.0.1:8443/beta"}
	for in, want := range map[string]string{
		"https://127.0.0.1:8443/beta/communications/callRecords?$skiptoken=x": "https://127.0.0.1:8443/beta/communications/callRecords?$skiptoken=x",
		"https://localhost:8443/beta/communications/callRecords?$skiptoken=x": "https://127.0.0.1:8443/beta/communications/callRecords?$skiptoken=x",
		"https://user:pw@graph.example/beta/communications/x":                 "https://127.0.0.1:8443/beta/communications/x",
		"https://evil.example/v1.0/communications/callRecords":                "",
	} {
		got, err := cl.rebase(in)
		if want == "" {
			if err == nil {
				t.Errorf("%s: rebased to %s, want refused", in, got)
			}
		} else if got != want || err != nil {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
}

func TestTokensWithASecretAreCached(t *testing.T) {
	var got []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got = append(got, r.PostForm)
		if r.URL.Path != "/tenant-1/oauth2/v2.0/token" {
			http.Error(w, "wrong path "+r.URL.Path, 404)
			return
		}
		io.WriteString(w, `{"token_type":"Bearer","expires_in":3599,"access_token":"tok"}`)
	}))
	defer srv.Close()
	now := time.Unix(1e9, 0)
	ts := &TokenSource{Client: outbound.Policy{AllowHTTP: true}.Client(5 * time.Second), Now: func() time.Time { return now },
		Creds: Credentials{Tenant: "tenant-1", ClientID: "app", Secret: "s3cret", Authority: srv.URL + "/", Scope: "https://graph.microsoft.com/.default"}}
	for range 2 {
		if tok, err := ts.Token(context.Background()); err != nil || tok != "tok" {
			t.Fatalf("token %q, %v", tok, err)
		}
	}
	if len(got) != 1 || got[0].Get("client_secret") != "s3cret" || got[0].Get("grant_type") != "client_credentials" || got[0].Get("scope") != "https://graph.microsoft.com/.default" {
		t.Errorf("token requests: %v", got)
	}
	now = now.Add(56 * time.Minute) // within five minutes of expiry: a new one
	ts.Token(context.Background())
	if len(got) != 2 {
		t.Errorf("%d token requests, want a new one near expiry", len(got))
	}
}

func TestTokensWithACertificateSendASignedAssertion(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mirror"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	pk8, _ := x509.MarshalPKCS8PrivateKey(key)
	file := filepath.Join(t.TempDir(), "app.pem")
	os.WriteFile(file, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8})...), 0o600)

	var endpoint string
	var checked error = fmt.Errorf("no token request")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		checked = func() error {
			if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || r.PostForm.Get("client_secret") != "" {
				return fmt.Errorf("form %v", r.PostForm)
			}
			tok, err := jwt.Parse(r.PostForm.Get("client_assertion"), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
				jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(endpoint), jwt.WithIssuer("app"), jwt.WithSubject("app"))
			if err != nil {
				return err
			}
			sum := sha1.Sum(der)
			if tok.Header["x5t"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
				return fmt.Errorf("x5t %v", tok.Header["x5t"])
			}
			return nil
		}()
		io.WriteString(w, `{"access_token":"tok","expires_in":"3600"}`)
	}))
	defer srv.Close()
	ts := &TokenSource{Client: outbound.Policy{AllowHTTP: true}.Client(5 * time.Second),
		Creds: Credentials{Tenant: "t", ClientID: "app", CertPath: file, Authority: srv.URL, Scope: "s/.default"}}
	endpoint = ts.Endpoint()
	if tok, err := ts.Token(context.Background()); err != nil || tok != "tok" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if checked != nil {
		t.Error(checked)
	}
}

func TestARefusedSecretSaysWhy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}`)
	}))
	defer srv.Close()
	ts := &TokenSource{Client: outbound.Policy{AllowHTTP: true}.Client(5 * time.Second),
		Creds: Credentials{Tenant: "t", ClientID: "app", Secret: "bad", Authority: srv.URL, Scope: "s/.default"}}
	_, err := ts.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "invalid_client: AADSTS7000215: Invalid client secret provided.") || strings.Contains(err.Error(), "Trace") {
		t.Errorf("err %v", err)
	}
}
