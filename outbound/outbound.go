package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Policy says where outbound requests may go. The zero value allows https to
// any address outside the always-denied set (loopback included, because
// developers run receivers on their own machine), verified against the
// system's roots.
type Policy struct {
	// AllowHTTP allows plain http:// URLs too, for local development; without
	// it only https is accepted, because notifications carry call data and a
	// clientState secret.
	AllowHTTP bool
	// Allow, when non-empty, is the only set of addresses that may be dialled.
	// The always-denied set stays denied even when a prefix here covers it.
	Allow []netip.Prefix
	// Deny lists addresses that are never dialled, checked after the built-in
	// denials and before Allow.
	Deny []netip.Prefix
	// RootCAs verifies servers' certificates; nil means the system roots.
	RootCAs *x509.CertPool
}

// DefaultTimeout bounds a request when [Policy.Client] is given no timeout:
// a call made on a user's behalf must never hang forever.
const DefaultTimeout = 30 * time.Second

// MaxResponseHeaderBytes bounds a response's headers: a receiver has nothing
// legitimate to say in more than this.
const MaxResponseHeaderBytes = 64 << 10

// ErrHTTPNotAllowed is the cause of the [URLError] for an http:// URL when
// [Policy.AllowHTTP] is off. Callers test for it with errors.Is to tell the
// user how to allow http (a flag, a setting) in their own words.
var ErrHTTPNotAllowed = errors.New("http is not allowed")

// URLError says why [Policy.CheckURL] refused a URL.
type URLError struct {
	// Reason is a lower-case phrase that reads after the name of the field
	// that held the URL, e.g. "must use https" so a caller can say
	// "notificationUrl must use https". It never contains the URL's
	// credentials.
	Reason string
	// Err is the underlying cause when there is one: ErrHTTPNotAllowed, a
	// *DeniedError for a literal address, or the parser's error.
	Err error
}

func (e *URLError) Error() string { return "url " + e.Reason }

// Unwrap returns the cause, so errors.Is and errors.As see through.
func (e *URLError) Unwrap() error { return e.Err }

// DeniedError is the error a dial fails with when the address it was about to
// connect to is not allowed. The client returns it wrapped (in *url.Error and
// *net.OpError); errors.As finds it.
type DeniedError struct {
	Addr   netip.Addr // the address that would have been dialled, unmapped
	Reason string     // why it is refused, e.g. "link-local (cloud metadata)"
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("outbound: address %s refused: %s", e.Addr, e.Reason)
}

// CheckURL parses raw and reports whether p lets a request go to it: an
// absolute URL with scheme https (or http when AllowHTTP), a host, no
// credentials (they would be stored and echoed back with the subscription)
// and no fragment. A host written as an IP address is checked against the
// address rules now, so an obviously forbidden URL is refused when it is
// given rather than when it is first called; host names are checked when
// dialled. Errors are *URLError.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, &URLError{Reason: "is required"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the *url.Error repeats the URL, which may hold secrets
		}
		return nil, &URLError{Reason: "is not a valid URL: " + err.Error(), Err: err}
	}
	switch {
	case !u.IsAbs():
		return nil, &URLError{Reason: "must be an absolute URL starting with https://"}
	case u.Scheme == "http" && !p.AllowHTTP:
		return nil, &URLError{Reason: "must use https", Err: ErrHTTPNotAllowed}
	case u.Scheme != "https" && u.Scheme != "http":
		want := "https"
		if p.AllowHTTP {
			want = "https or http"
		}
		return nil, &URLError{Reason: fmt.Sprintf("must use %s, not %s", want, u.Scheme)}
	case u.Opaque != "" || u.Hostname() == "":
		return nil, &URLError{Reason: "must name a host, as in https://example.com/path"}
	case u.User != nil:
		return nil, &URLError{Reason: "must not contain a user name or password"}
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, &URLError{Reason: "must not contain a fragment (#...)"}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, &URLError{Reason: fmt.Sprintf("has an invalid port %q", port)}
		}
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
		if err := p.check(addr); err != nil {
			var de *DeniedError
			errors.As(err, &de)
			return nil, &URLError{Reason: fmt.Sprintf("must not point at %s: %s", de.Addr, de.Reason), Err: err}
		}
	}
	return u, nil
}

// Client returns an HTTP client that enforces p, with every request bounded
// by timeout (DefaultTimeout when timeout <= 0) and TLS 1.2 at least. Each
// call builds its own connection pool: build one client per use (the
// dispatcher, the mirror) and share it, so connections to a receiver are
// reused across requests.
func (p Policy) Client(timeout time.Duration) *http.Client {
	return p.ClientTLS(timeout, tls.VersionTLS12)
}

// ClientTLS is [Policy.Client] with a stricter minimum TLS version, e.g.
// tls.VersionTLS13 for a destination that is known to support it. A minTLS
// below TLS 1.2 is raised to TLS 1.2: older versions are never offered.
func (p Policy) ClientTLS(timeout time.Duration, minTLS uint16) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if minTLS < tls.VersionTLS12 {
		minTLS = tls.VersionTLS12
	}
	phase := min(timeout, 10*time.Second) // dial and handshake, each
	dialer := &net.Dialer{
		Timeout:        phase,
		KeepAlive:      30 * time.Second,
		ControlContext: p.control,
	}
	transport := &http.Transport{
		Proxy:                  nil, // a proxy would hide the real destination from the dial check
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: p.RootCAs, MinVersion: minTLS},
		TLSHandshakeTimeout:    phase,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		ForceAttemptHTTP2:      true, // a custom dialer and TLS config turn it off otherwise
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    16, // a dispatcher posts many batches to one receiver
		IdleConnTimeout:        90 * time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		// A redirect is a new destination the user never gave; the caller
		// sees the 3xx and decides (for a webhook: a failed delivery).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// control is the dialer's check, run on the address actually being dialled
// (after DNS resolution), so a name that resolves to a denied address, or
// starts to between calls, is refused before any packet is sent.
func (p Policy) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("outbound: dialling %s %q: not an IP address and port: %w", network, address, err)
	}
	return p.check(ap.Addr())
}

var (
	metadataIPv6 = netip.MustParseAddr("fd00:ec2::254")
	broadcast    = netip.MustParseAddr("255.255.255.255")
	thisNetwork  = netip.MustParsePrefix("0.0.0.0/8")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
)

// check applies the built-in denials, then Deny, then Allow.
func (p Policy) check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("") // prefixes never contain zoned addresses
	if reason := alwaysDenied(addr); reason != "" {
		return &DeniedError{Addr: addr, Reason: reason}
	}
	for _, d := range p.Deny {
		if d.Contains(addr) {
			return &DeniedError{Addr: addr, Reason: "in the deny list (" + d.String() + ")"}
		}
	}
	if len(p.Allow) == 0 {
		return nil
	}
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	return &DeniedError{Addr: addr, Reason: "not in the allow list"}
}

// alwaysDenied says why addr may never be dialled, or "" when it may.
func alwaysDenied(addr netip.Addr) string {
	switch {
	case !addr.IsValid():
		return "not a valid address"
	case addr.Is4() && addr.IsLinkLocalUnicast():
		return "IPv4 link-local (cloud metadata services live there)"
	case addr == metadataIPv6:
		return "the AWS IPv6 metadata address"
	case addr.IsLinkLocalUnicast():
		return "IPv6 link-local"
	case addr.IsUnspecified() || thisNetwork.Contains(addr):
		return "unspecified (it reaches this host)"
	case addr.IsMulticast() || addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast():
		return "multicast"
	case addr == broadcast:
		return "broadcast"
	case nat64.Contains(addr):
		// A NAT64 gateway would carry 64:ff9b::a9fe:a9fe to 169.254.169.254.
		b := addr.As16()
		if reason := alwaysDenied(netip.AddrFrom4([4]byte(b[12:]))); reason != "" {
			return "NAT64 of a denied IPv4 address: " + reason
		}
	}
	return ""
}

// ErrBodyTooLarge is returned by [ReadBody] when the body is longer than the
// limit it was given.
var ErrBodyTooLarge = errors.New("outbound: body too large")

// ReadBody reads all of r up to max bytes. A longer body is an error wrapping
// ErrBodyTooLarge (and no data), so a receiver cannot make callvault buffer an
// unbounded response. It reads at most max+1 bytes from r.
func ReadBody(r io.Reader, max int64) ([]byte, error) {
	if max < 0 {
		return nil, fmt.Errorf("outbound: ReadBody: negative limit %d", max)
	}
	limit := max
	if limit < math.MaxInt64 {
		limit++ // one byte more tells "exactly max" from "more than max"
	}
	b, err := io.ReadAll(io.LimitReader(r, limit))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, max)
	}
	return b, nil
}

// ParsePrefixes parses a comma-separated list of CIDR prefixes or bare IP
// addresses (a bare address is a prefix of its full length), as given to
// --webhook-allow and --webhook-deny. Spaces around entries are ignored; an
// empty list is nil. IPv4-mapped IPv6 entries are unmapped, because dialled
// addresses are unmapped before they are compared.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for i, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("address list entry %d is empty (a stray comma?)", i+1)
		}
		p, err := parsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("address list entry %d %q: %v; want a CIDR such as 10.0.0.0/8 or fd00::/8, or an IP address such as 192.0.2.1", i+1, entry, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address")
		}
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("zones are not allowed")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not a valid CIDR prefix")
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// LoadRoots returns the system's root certificates plus the PEM certificates
// in caFile, for receivers whose certificates a private CA signed; caFile ""
// returns the system roots alone. A file that holds no certificate, or one
// that does not parse, is an error rather than silently ignored.
func LoadRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return nil, fmt.Errorf("outbound: loading the system roots: %w", err)
	}
	if caFile == "" {
		return pool, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("outbound: reading CA file: %w", err)
	}
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("outbound: CA file %s: certificate %d: %w", caFile, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("outbound: CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}
