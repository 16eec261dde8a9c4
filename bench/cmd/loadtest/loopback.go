package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// loopbackAddr checks that hostport names a loopback IP literal
// (127.0.0.0/8 or ::1) and a port. Host names, even "localhost", are
// refused: what a name resolves to is not up to this program.
func loopbackAddr(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %v", hostport, err)
	}
	if port == "" {
		return fmt.Errorf("address %q has no port (use :0 for any free port)", hostport)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("address %q: the host must be a loopback IP literal such as 127.0.0.1 or ::1, not a name", hostport)
	}
	if !ip.Unmap().IsLoopback() {
		return fmt.Errorf("address %q is not a loopback address: load may only target 127.0.0.0/8 or ::1", hostport)
	}
	return nil
}

// loopbackURL checks that u is an http URL on a loopback address.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("URL %q: only plain http on loopback is driven", raw)
	}
	if err := loopbackAddr(u.Host); err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	return u, nil
}

// loopbackDialer dials loopback addresses only: the check runs on the
// resolved address of every connection, after whatever built the URL.
func loopbackDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			return loopbackAddr(address)
		},
	}
	return d.DialContext
}
