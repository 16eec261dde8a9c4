package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every server here is an httptest server on 127.0.0.1; every request goes to
// one of them. Forbidden addresses are only ever handed to the dial check
// itself, which refuses them before a socket connects.

const testTimeout = 5 * time.Second

// writeCA writes srv's certificate as PEM into a file in t's temp dir.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestTLS(t *testing.T) {
	var calls atomic.Int32
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "ok")
	})
	quiet := log.New(io.Discard, "", 0) // the failing handshakes are expected
	srv := httptest.NewUnstartedServer(handler)
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()
	tls12 := httptest.NewUnstartedServer(handler) // same certificate as srv
	tls12.Config.ErrorLog = quiet
	tls12.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	tls12.StartTLS()
	defer tls12.Close()

	roots, err := LoadRoots(writeCA(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		roots   *x509.CertPool
		url     string
		minTLS  uint16
		wantErr string // "" for success
	}{
		{"CA loaded from file", roots, srv.URL, 0, ""},
		{"system roots only", nil, srv.URL, 0, "certificate"},
		{"TLS 1.2 server, default minimum", roots, tls12.URL, 0, ""},
		{"TLS 1.2 server, TLS 1.3 required", roots, tls12.URL, tls.VersionTLS13, "protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			c := Policy{RootCAs: tt.roots}.ClientTLS(testTimeout, tt.minTLS)
			resp, err := get(t, c, tt.url)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("GET: %v", err)
				}
				body, err := ReadBody(resp.Body, 1<<10)
				if err != nil || string(body) != "ok" || resp.StatusCode != http.StatusOK {
					t.Fatalf("got %d %q %v, want 200 \"ok\"", resp.StatusCode, body, err)
				}
				if calls.Load() != before+1 {
					t.Fatalf("handler called %d times, want 1", calls.Load()-before)
				}
				return
			}
			if err == nil {
				t.Fatalf("GET succeeded with status %d, want an error containing %q", resp.StatusCode, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "certificate" {
				var cve *tls.CertificateVerificationError
				if !errors.As(err, &cve) {
					t.Fatalf("error %v (%T) is not a *tls.CertificateVerificationError", err, err)
				}
			}
			if calls.Load() != before {
				t.Fatal("handler was called despite the TLS failure")
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		name      string
		policy    Policy
		raw       string
		want      string // the reason's start, "" for accepted
		wantCause error
	}{
		{"https", Policy{}, "https://example.com/hook?x=1", "", nil},
		{"https with port", Policy{}, "https://example.com:8443/hook", "", nil},
		{"upper-case scheme", Policy{}, "HTTPS://example.com/hook", "", nil},
		{"http refused", Policy{}, "http://example.com/hook", "must use https", ErrHTTPNotAllowed},
		{"http allowed", Policy{AllowHTTP: true}, "http://localhost:8080/hook", "", nil},
		{"other scheme", Policy{}, "ftp://example.com/x", "must use https, not ftp", nil},
		{"other scheme, http allowed", Policy{AllowHTTP: true}, "ws://example.com/x", "must use https or http, not ws", nil},
		{"empty", Policy{}, "  ", "is required", nil},
		{"relative", Policy{}, "/hook", "must be an absolute URL", nil},
		{"no scheme", Policy{}, "example.com/hook", "must be an absolute URL", nil},
		{"no host", Policy{}, "https:///hook", "must name a host", nil},
		{"opaque", Policy{}, "https:example.com", "must name a host", nil},
		{"fragment", Policy{}, "https://example.com/hook#frag", "must not contain a fragment", nil},
		{"empty fragment", Policy{}, "https://example.com/hook#", "must not contain a fragment", nil},
		{"credentials", Policy{}, "https://user:secret@example.com/hook", "must not contain a user name", nil},
		{"unparseable", Policy{}, "https://exa mple.com/", "is not a valid URL", nil},
		{"port zero", Policy{}, "https://example.com:0/", "has an invalid port", nil},
		{"port too large", Policy{}, "https://example.com:70000/", "has an invalid port", nil},
		{"metadata literal", Policy{}, "https://169.254.169.254/latest", "must not point at 169.254.169.254", nil},
		{"mapped metadata literal", Policy{}, "https://[::ffff:169.254.169.254]/", "must not point at 169.254.169.254", nil},
		{"denied literal", Policy{Deny: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, "https://10.1.2.3/", "must not point at 10.1.2.3: in the deny list", nil},
		{"loopback literal", Policy{}, "https://127.0.0.1:8443/", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.policy.CheckURL(tt.raw)
			if tt.want == "" {
				if err != nil || u == nil {
					t.Fatalf("CheckURL(%q) = %v, %v; want accepted", tt.raw, u, err)
				}
				return
			}
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("CheckURL(%q) = %v, %v; want a *URLError", tt.raw, u, err)
			}
			if !strings.HasPrefix(ue.Reason, tt.want) {
				t.Fatalf("reason %q, want one starting %q", ue.Reason, tt.want)
			}
			if err.Error() != "url "+ue.Reason {
				t.Fatalf("Error() = %q", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q repeats the URL's password", err)
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Fatalf("error %v does not wrap %v", err, tt.wantCause)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var targetCalls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/from", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/to", http.StatusFound)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		targetCalls.Add(1)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := Policy{AllowHTTP: true}.Client(testTimeout)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, err := http.NewRequest(method, srv.URL+"/from", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/to" {
			t.Fatalf("%s: got %d Location %q, want 302 to /to", method, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if n := targetCalls.Load(); n != 0 {
		t.Fatalf("redirect target called %d times, want 0", n)
	}
}

func TestDialDenied(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	byName := "http://localhost:" + strconv.Itoa(port) + "/"

	prefixes := func(s string) []netip.Prefix {
		p, err := ParsePrefixes(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		policy     Policy
		url        string
		wantDenied bool
	}{
		{"loopback allowed by default", Policy{}, srv.URL, false},
		{"loopback allowed by name", Policy{}, byName, false},
		{"allow list covering loopback", Policy{Allow: prefixes("10.0.0.0/8, 127.0.0.1")}, srv.URL, false},
		{"deny loopback", Policy{Deny: prefixes("127.0.0.0/8")}, srv.URL, true},
		{"allow 10/8 only", Policy{Allow: prefixes("10.0.0.0/8")}, srv.URL, true},
		{"deny wins over allow", Policy{Allow: prefixes("127.0.0.0/8"), Deny: prefixes("127.0.0.1")}, srv.URL, true},
		// The name is checked on the address it resolves to. ::1 is denied too
		// in case this machine's localhost also resolves to it.
		{"deny loopback, by name", Policy{Deny: prefixes("127.0.0.0/8, ::1")}, byName, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.policy.AllowHTTP = true
			// CheckURL would refuse the literal 127.0.0.1 up front; the client
			// is tested here, and must refuse at dial time on its own.
			before := calls.Load()
			resp, err := get(t, tt.policy.Client(testTimeout), tt.url)
			if !tt.wantDenied {
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %v, want 200", tt.url, err)
				}
				if calls.Load() != before+1 {
					t.Fatal("handler not called")
				}
				return
			}
			if err == nil {
				t.Fatalf("GET %s succeeded with %d, want refused", tt.url, resp.StatusCode)
			}
			var de *DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T) has no *DeniedError", err, err)
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not a *url.Error", err)
			}
			if !de.Addr.IsLoopback() || de.Reason == "" {
				t.Fatalf("DeniedError %+v, want a loopback address and a reason", de)
			}
			if n := calls.Load() - before; n != 0 {
				t.Fatalf("handler called %d times, want 0", n)
			}
		})
	}
}

// TestControlAlwaysDenied calls the dial check directly: no socket is made.
// The allow list covers everything, to show it cannot re-allow these.
func TestControlAlwaysDenied(t *testing.T) {
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}
	tests := []struct {
		address string
		want    string // reason substring; "" for allowed
	}{
		{"169.254.169.254:80", "link-local"},
		{"169.254.0.1:443", "link-local"},
		{"[fd00:ec2::254]:80", "metadata"},
		{"[::ffff:169.254.1.1]:80", "link-local"},
		{"[fe80::1]:80", "link-local"},
		{"[fe80::1%eth0]:80", "link-local"},
		{"0.0.0.0:80", "unspecified"},
		{"0.1.2.3:80", "unspecified"},
		{"[::]:80", "unspecified"},
		{"[::ffff:0.0.0.0]:80", "unspecified"},
		{"224.0.0.1:80", "multicast"},
		{"239.255.255.250:1900", "multicast"},
		{"[ff02::1]:80", "multicast"},
		{"[ff05::1:3]:547", "multicast"},
		{"255.255.255.255:80", "broadcast"},
		{"[64:ff9b::a9fe:a9fe]:80", "NAT64"},
		{"127.0.0.1:80", ""},
		{"[::1]:80", ""},
		{"[::ffff:127.0.0.1]:80", ""},
		{"192.0.2.1:443", ""},
		{"[2001:db8::1]:443", ""},
		{"[fd00:ec2::253]:80", ""},
		{"[64:ff9b::c000:201]:443", ""},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := p.control(t.Context(), "tcp", tt.address, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("control(%s) = %v, want allowed", tt.address, err)
				}
				return
			}
			var de *DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("control(%s) = %v, want a *DeniedError", tt.address, err)
			}
			if !strings.Contains(de.Reason, tt.want) {
				t.Fatalf("reason %q, want one containing %q", de.Reason, tt.want)
			}
			if de.Addr.Is4In6() || de.Addr.Zone() != "" {
				t.Fatalf("DeniedError.Addr %s is not unmapped and unzoned", de.Addr)
			}
		})
	}
	if err := p.control(t.Context(), "tcp", "example.com:80", nil); err == nil {
		t.Fatal("control accepted a host name; it must only ever see addresses")
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots, err := LoadRoots(writeCA(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	c := Policy{RootCAs: roots}.Client(testTimeout)
	for i := range 5 {
		resp, err := c.Post(srv.URL, "application/json", strings.NewReader(`{"value":[]}`))
		if err != nil {
			t.Fatalf("POST %d: %v", i, err)
		}
		if _, err := ReadBody(resp.Body, 1<<10); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("5 sequential POSTs opened %d connections, want 1", n)
	}
}

func TestTransportSettings(t *testing.T) {
	c := Policy{}.Client(0)
	tr := c.Transport.(*http.Transport)
	switch {
	case c.Timeout != DefaultTimeout:
		t.Errorf("Timeout %v, want DefaultTimeout", c.Timeout)
	case tr.Proxy != nil:
		t.Error("Proxy set; a proxy hides the destination from the dial check")
	case tr.MaxResponseHeaderBytes != 64<<10:
		t.Errorf("MaxResponseHeaderBytes %d", tr.MaxResponseHeaderBytes)
	case tr.TLSClientConfig.MinVersion != tls.VersionTLS12:
		t.Errorf("MinVersion %x, want TLS 1.2", tr.TLSClientConfig.MinVersion)
	case tr.DisableKeepAlives:
		t.Error("keep-alives disabled")
	}
	c = Policy{}.ClientTLS(2*time.Second, tls.VersionTLS10)
	tr = c.Transport.(*http.Transport)
	if tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
		t.Errorf("ClientTLS(TLS 1.0) MinVersion %x, want raised to TLS 1.2", tr.TLSClientConfig.MinVersion)
	}
	if tr.ResponseHeaderTimeout > 2*time.Second || tr.TLSHandshakeTimeout > 2*time.Second {
		t.Errorf("phase timeouts %v, %v exceed the overall 2s", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		max     int64
		tooBig  bool
		wantLen int
	}{
		{"empty", "", 10, false, 0},
		{"under", "abc", 10, false, 3},
		{"at max", strings.Repeat("x", 10), 10, false, 10},
		{"max+1", strings.Repeat("x", 11), 10, true, 0},
		{"far over", strings.Repeat("x", 1<<16), 10, true, 0},
		{"zero limit, empty", "", 0, false, 0},
		{"zero limit, one byte", "x", 0, true, 0},
		{"largest limit", "abc", math.MaxInt64, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &countingReader{r: strings.NewReader(tt.body)}
			b, err := ReadBody(r, tt.max)
			if tt.tooBig {
				if !errors.Is(err, ErrBodyTooLarge) || b != nil {
					t.Fatalf("ReadBody = %d bytes, %v; want ErrBodyTooLarge", len(b), err)
				}
			} else if err != nil || len(b) != tt.wantLen || string(b) != tt.body {
				t.Fatalf("ReadBody = %q, %v; want %q", b, err, tt.body)
			}
			if r.n-1 > tt.max {
				t.Fatalf("read %d bytes from the body, want at most max+1 = %d", r.n, tt.max+1)
			}
		})
	}
	if _, err := ReadBody(strings.NewReader("x"), -1); err == nil {
		t.Fatal("negative limit accepted")
	}
	readErr := errors.New("broken")
	if _, err := ReadBody(io.MultiReader(strings.NewReader("ab"), &errReader{readErr}), 10); !errors.Is(err, readErr) {
		t.Fatalf("read error %v, want %v", err, readErr)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    string // prefixes joined by ","; ignored when wantErr is set
		wantErr string
	}{
		{"", "", ""},
		{"   ", "", ""},
		{"10.0.0.0/8", "10.0.0.0/8", ""},
		{"10.0.0.0/8, 192.168.0.0/16 ,fd00::/8", "10.0.0.0/8,192.168.0.0/16,fd00::/8", ""},
		{"192.0.2.1", "192.0.2.1/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:10.1.2.3", "10.1.2.3/32", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
		{"10.0.0.0/33", "", `entry 1 "10.0.0.0/33": not a valid CIDR prefix; want a CIDR such as 10.0.0.0/8`},
		{"10.0.0.0/8,example.com", "", `entry 2 "example.com": not an IP address`},
		{"10.0.0.0/8,,127.0.0.1", "", "entry 2 is empty"},
		{"10.0.0.0/8,", "", "entry 2 is empty"},
		{"fe80::1%eth0", "", "zones are not allowed"},
		{"300.1.1.1", "", "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePrefixes(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePrefixes(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePrefixes(%q): %v", tt.in, err)
			}
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			if strings.Join(s, ",") != tt.want {
				t.Fatalf("ParsePrefixes(%q) = %v, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestLoadRootsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, file, want string
	}{
		{"missing", filepath.Join(dir, "absent.pem"), "reading CA file"},
		{"empty", write("empty.pem", nil), "holds no PEM certificate"},
		{"not PEM", write("junk.pem", []byte("hello")), "holds no PEM certificate"},
		{"key only", write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), "holds no PEM certificate"},
		{"bad certificate", write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})), "certificate 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := LoadRoots(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("LoadRoots = %v, %v; want an error containing %q", pool, err, tt.want)
			}
		})
	}
	if pool, err := LoadRoots(""); err != nil || pool == nil {
		t.Fatalf("LoadRoots(\"\") = %v, %v; want the system pool", pool, err)
	}
}
