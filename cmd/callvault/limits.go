package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/callvault/callvault/graph"
)

// limitsConfig is serve's timeouts and caps: what a client may hold of the
// server, token or not (docs/security.md, "Timeouts and caps", says why
// each default).
type limitsConfig struct {
	readHeaderTimeout time.Duration // the request line and headers
	readTimeout       time.Duration // the whole request, body included
	idleTimeout       time.Duration // a kept-alive connection between requests
	writeStall        time.Duration // a response that makes no progress
	maxConnections    int
	maxRequests       int

	capped *capListener // what listener returned, for apply
}

func (c *limitsConfig) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.readHeaderTimeout, "read-header-timeout", 10*time.Second, "the longest a client may take to send a request's line and headers")
	fs.DurationVar(&c.readTimeout, "read-timeout", 2*time.Minute, "the longest a client may take to send a whole request, body included\n(2m lets a 64 MiB --ingest body arrive at 0.55 MB/s; raise it with --ingest-limit for slow links)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", time.Minute, "how long a kept-alive connection may wait for its next request")
	fs.DurationVar(&c.writeStall, "write-stall-timeout", 30*time.Second, "the longest a response may make no progress (a client that stops reading) before it is abandoned;\na slow reader that keeps reading (64 KiB per timeout, ~2 KiB/s) is never cut off")
	fs.IntVar(&c.maxConnections, "max-connections", 1024, "the most connections served at once; more wait to be accepted")
	fs.IntVar(&c.maxRequests, "max-requests", 256, "the most requests in flight at once; more get a 503 with Retry-After at once")
}

func (c *limitsConfig) check() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read-header-timeout", c.readHeaderTimeout}, {"read-timeout", c.readTimeout}, {"idle-timeout", c.idleTimeout}, {"write-stall-timeout", c.writeStall}} {
		if d.v <= 0 {
			return fmt.Errorf("%w: --%s must be positive", errUsage, d.name)
		}
	}
	if c.maxConnections < 1 || c.maxRequests < 1 {
		return fmt.Errorf("%w: --max-connections and --max-requests must be at least 1", errUsage)
	}
	return nil
}

// listener returns ln capped at --max-connections. It must be the TCP
// listener itself, under any TLS: net/http looks for a *tls.Conn.
func (c *limitsConfig) listener(ln net.Listener) net.Listener {
	c.capped = &capListener{Listener: ln, slots: make(chan struct{}, c.maxConnections)}
	return c.capped
}

// apply sets the limits on the API server and the HTTP server.
func (c *limitsConfig) apply(srv *graph.Server, hs *http.Server) {
	srv.MaxRequests = c.maxRequests
	srv.WriteStallTimeout = c.writeStall
	hs.ReadHeaderTimeout = c.readHeaderTimeout
	hs.ReadTimeout = c.readTimeout
	hs.IdleTimeout = c.idleTimeout
	if c.capped != nil {
		// Write stalls are bounded on the TCP connection, under any TLS (a
		// TLS connection whose write timed out cannot write again). And
		// net/http's own plain-text errors (400, 431, 501) go out in
		// Graph's envelope, on plain HTTP (under TLS identityConfig.apply
		// wraps the connection after its handshake, where they are not
		// encrypted yet).
		c.capped.wrap = func(c net.Conn) net.Conn { return srv.EnvelopeConn(srv.StallConn(c)) }
	}
	// No WriteTimeout: it bounds a whole response, and would cut off a slow
	// but steady download; the stall timeout bounds what matters.
}

// capListener accepts a connection only while fewer than cap(slots) are
// open; beyond, Accept waits (the kernel's backlog holds the others).
type capListener struct {
	net.Listener
	slots chan struct{}
	wrap  func(net.Conn) net.Conn // optional, set before Serve
}

func (l *capListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	if l.wrap != nil {
		c = l.wrap(c)
	}
	return &cappedConn{Conn: c, release: func() { <-l.slots }}, nil
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
