// Package tlslisten is the https listener of serve, made so that net/http's
// own error responses, those it writes before any handler runs, can be
// given Graph's envelope over https as they are over http.
//
// net/http writes those errors (400 for a malformed request, 431 for
// headers over MaxHeaderBytes, 501 for a Transfer-Encoding it does not
// take) on the connection Accept returned, and finds out whether that is
// TLS by its type, *tls.Conn: a wrapper that rewrote them would make it
// treat the connection as plain, and so lose HTTP/2 and r.TLS. This
// listener completes each TLS handshake itself, off the accept loop, and
// then hands net/http a *tls.Conn when the client chose HTTP/2, or the
// connection wrapped by Listener.WrapHTTP1 when it chose HTTP/1.1, with a
// ConnectionState method from which net/http sets r.TLS. A client
// that sends plain HTTP to the port is answered in HTTP/1.1, through
// WrapHTTP1 too, rather than with net/http's plain text.
package tlslisten

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Listener accepts TLS connections from a TCP listener.
type Listener struct {
	net.Listener // the TCP listener

	// Set before the first Accept:

	// WrapHTTP1, if set, wraps each connection on which the client chose
	// HTTP/1.1 (or nothing) once its handshake is done, and the raw
	// connection of a client that sent plain HTTP.
	WrapHTTP1 func(net.Conn) net.Conn
	// HandshakeTimeout bounds a handshake; 0 means none. net/http uses its
	// ReadHeaderTimeout for the same.
	HandshakeTimeout time.Duration
	// Logger receives the handshakes that fail, as net/http's ErrorLog
	// would; nil discards them.
	Logger *slog.Logger

	config *tls.Config
	start  sync.Once
	conns  chan accepted
	done   chan struct{}
	closed sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// New returns a listener of inner's connections with TLS config.
func New(inner net.Listener, config *tls.Config) *Listener {
	return &Listener{Listener: inner, config: config, conns: make(chan accepted), done: make(chan struct{})}
}

// Accept returns the next connection whose handshake is done.
func (l *Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case a := <-l.conns:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; handshakes under way are abandoned.
func (l *Listener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *Listener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.conns <- accepted{err: err}:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // net/http backs off too, then calls Accept again
			continue
		}
		go l.handshake(c)
	}
}

// handshake completes the TLS handshake of c and queues the connection for
// Accept.
func (l *Listener) handshake(c net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if l.HandshakeTimeout > 0 {
		c.SetDeadline(time.Now().Add(l.HandshakeTimeout))
	}
	tc := tls.Server(c, l.config)
	if err := tc.HandshakeContext(ctx); err != nil {
		var re tls.RecordHeaderError
		plain := errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader)
		if l.Logger != nil {
			reason := err.Error()
			if plain {
				reason = "client sent an HTTP request to an HTTPS server"
			}
			l.Logger.Warn("http: TLS handshake error", "remote", c.RemoteAddr().String(), "err", reason)
		}
		if plain {
			l.answerPlainHTTP(re.Conn)
			return
		}
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	var out net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" && l.WrapHTTP1 != nil {
		out = &http1Conn{Conn: l.WrapHTTP1(tc), state: tc.ConnectionState()}
	}
	select {
	case l.conns <- accepted{c: out}:
	case <-l.done:
		out.Close()
	}
}

// looksLikeHTTP reports whether the first five bytes of a connection, read
// as a TLS record header, are the start of an HTTP request: net/http's test,
// with PATCH and DELETE.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "PATCH", "DELET":
		return true
	}
	return false
}

// plainHTTPAnswer is what net/http answers plain HTTP sent to a TLS port,
// as HTTP/1.1 and in the form of its other errors, so that WrapHTTP1
// rewrites it like them.
const plainHTTPAnswer = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"400 Bad Request: Client sent an HTTP request to an HTTPS server"

// answerPlainHTTP answers a client that sent plain HTTP, then reads what it
// sent for a moment before closing, so that the close does not reset the
// connection before the client reads the answer.
func (l *Listener) answerPlainHTTP(c net.Conn) {
	w := c
	if l.WrapHTTP1 != nil {
		w = l.WrapHTTP1(c)
	}
	c.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(w, plainHTTPAnswer)
	c.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	c.Close()
}

// http1Conn is an HTTP/1.1 connection after its handshake, wrapped, with
// the state of its TLS: net/http gives a connection that is not a *tls.Conn
// but has ConnectionState its requests' r.TLS.
type http1Conn struct {
	net.Conn
	state tls.ConnectionState
}

// ConnectionState returns the connection's TLS state.
func (c *http1Conn) ConnectionState() tls.ConnectionState { return c.state }
