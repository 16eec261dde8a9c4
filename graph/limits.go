package graph

import (
	"errors"
	"net"
	"net/http"
	"os"
	"time"
)

// serverBusy is the error of a request beyond Server.MaxRequests.
const serverBusy = "server_busy"

func init() {
	graphErrors[serverBusy] = struct {
		status int
		code   string
	}{http.StatusServiceUnavailable, "ServiceUnavailable"}
}

// stallChunk is the least a client must take every WriteStallTimeout
// (64 KiB in 30 s is about 2 KiB/s) to keep a response going.
const stallChunk = 64 << 10

// StallConn bounds the stalls of writes on c, a connection of the HTTP/1
// server (the TCP connection itself, under any TLS): a Write that cannot
// hand the kernel stallChunk bytes (or all it has left) within
// WriteStallTimeout fails, and with it the response, which frees the
// handler and what it holds. A Write that keeps making that progress gets a
// fresh deadline each time, so a slow but steady reader is never cut off.
//
// The bound lives on the connection, not on the response, so that a page is
// written in one Write: writing it in chunks of stallChunk, each under its
// own deadline set through the ResponseController, made one write syscall
// and one TCP push a chunk, and cost about a third of the CPU of a page of
// 60 sessions with segments (docs/performance.md). Without WriteStallTimeout
// c is returned as it is.
func (s *Server) StallConn(c net.Conn) net.Conn {
	if s.WriteStallTimeout <= 0 {
		return c
	}
	return &stallConn{Conn: c, d: s.WriteStallTimeout}
}

type stallConn struct {
	net.Conn
	d time.Duration
}

func (c *stallConn) Write(b []byte) (int, error) {
	n := 0
	for {
		c.Conn.SetWriteDeadline(time.Now().Add(c.d))
		m, err := c.Conn.Write(b[n:])
		n += m
		// A timeout after at least stallChunk bytes is progress, not a
		// stall: carry on under a new deadline. Anything else is final.
		if err == nil || m < stallChunk || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
	}
}

// stallWriter bounds the stalls of an HTTP/2 response, whose stream can
// stall on its own flow control while the connection is fine: each
// stallChunk of the response is written under its own deadline (an
// HTTP/2 write deadline is the stream's). HTTP/1 responses are bounded by
// StallConn instead.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func newStallWriter(w http.ResponseWriter, d time.Duration) *stallWriter {
	sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
	// The stream starts without a deadline.
	sw.rc.SetWriteDeadline(time.Time{})
	return sw
}

func (w *stallWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := min(len(b), stallChunk)
		w.rc.SetWriteDeadline(time.Now().Add(w.d)) // an error means a writer without deadlines: nothing to bound
		m, err := w.ResponseWriter.Write(b[:c])
		n += m
		if err != nil {
			return n, err
		}
		b = b[c:]
	}
	return n, nil
}

// finish bounds the flush of what is buffered once the handler returns.
func (w *stallWriter) finish() { w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

// Unwrap lets http.ResponseController reach the connection.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
