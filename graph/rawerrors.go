package graph

import (
	"bytes"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// EnvelopeConn wraps a connection of the HTTP/1 server so that the errors
// net/http writes on its own, before any handler runs (400 for a malformed
// request, 431 for headers over MaxHeaderBytes, 501 for a Transfer-Encoding
// it does not take), go out in Graph's envelope rather than as plain text.
// Give it the TCP connection of plain HTTP, and under TLS the connection
// after its handshake (package tlslisten does, for HTTP/1.1): wrapped around
// the TCP connection of TLS, it would see the errors encrypted.
func (s *Server) EnvelopeConn(c net.Conn) net.Conn { return &envelopeConn{Conn: c, s: s} }

type envelopeConn struct {
	net.Conn
	s *Server
}

// cannedHeaders are what net/http writes between the status line and the
// text of its own errors; no handler's response has them right after the
// status line.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *envelopeConn) Write(b []byte) (int, error) {
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 ")) || len(b) > 512 {
		return c.Conn.Write(b)
	}
	statusLine, text, ok := bytes.Cut(b, []byte(cannedHeaders))
	if !ok || bytes.IndexByte(statusLine, '\n') >= 0 {
		return c.Conn.Write(b)
	}
	status, err := strconv.Atoi(string(statusLine[9:min(12, len(statusLine))]))
	if err != nil {
		return c.Conn.Write(b)
	}
	id := c.s.newID()
	body := appendEnvelope(nil, strings.ReplaceAll(http.StatusText(status), " ", ""), cannedMessage(status, string(text)), c.s.now(), ids{id, id})
	out := append([]byte(nil), statusLine...)
	out = append(out, "\r\nContent-Type: application/json\r\nConnection: close\r\nrequest-id: "+id+"\r\nclient-request-id: "+id+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"...)
	if _, err := c.Conn.Write(append(out, body...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// cannedMessage says what net/http's text means, and what to do.
func cannedMessage(status int, text string) string {
	switch {
	case status == http.StatusNotImplemented && text == "Unsupported transfer encoding":
		return "The request's Transfer-Encoding is not supported: send the body with Content-Length or Transfer-Encoding: chunked, and compress it with Content-Encoding: gzip."
	case status == http.StatusRequestHeaderFieldsTooLarge:
		return "The request's headers are larger than this server accepts; a bearer token is at most 16 KiB."
	}
	// "400 Bad Request: missing required Host header"
	if _, detail, ok := strings.Cut(text, ": "); ok {
		return "The request is not valid HTTP: " + detail + "."
	}
	return "The request is not valid HTTP: " + text + "."
}
