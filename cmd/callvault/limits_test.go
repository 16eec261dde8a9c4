package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// closedWithin reports whether the server closes conn within d (the read
// ends in EOF or a reset, not in our own deadline).
func closedWithin(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// serve's timeouts close connections that hold the server without making
// progress, token or not: an idle one, a request whose body stalls, a
// request whose headers never end.
func TestServeClosesIdleAndStalledConnections(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--idle-timeout", "500ms", "--read-timeout", "1s", "--read-header-timeout", "500ms")
	addr := strings.TrimPrefix(s.url, "http://")
	for _, tc := range []struct {
		name string
		send string
	}{
		{"a connection that sends nothing", ""},
		{"a connection idle after a request", "GET /v1.0/$metadata HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"a request whose body stalls", "POST /ingest/v1/callRecords HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"id\":"},
		{"headers that never end", "GET /v1.0/$metadata HTTP/1.1\r\nHost: x\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprint(conn, tc.send)
			if !closedWithin(t, conn, 5*time.Second) {
				t.Error("the connection is still open after 5 s")
			}
		})
	}
}

// --max-connections bounds the connections served at once: one more waits
// until another closes.
func TestServeCapsConnections(t *testing.T) {
	s := startServer(t, "--data", t.TempDir(), "--max-connections", "2", "--idle-timeout", "1m")
	addr := strings.TrimPrefix(s.url, "http://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /v1.0/$metadata HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err != nil { // answered: the connection is being served
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr) // the kernel accepts it; the server does not serve it
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	fmt.Fprint(third, "GET /v1.0/$metadata HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _ := third.Read(make([]byte, 1)); n > 0 {
		t.Fatal("a third connection was served beyond --max-connections 2")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := third.Read(make([]byte, 1)); n == 0 {
		t.Fatalf("the third connection was not served once another closed: %v", err)
	}
}

// net/http's own errors, such as the 501 of a Transfer-Encoding it does not
// take, come in Graph's envelope from the real binary too.
func TestServeAnswersAnUnsupportedTransferEncodingInGraphsEnvelope(t *testing.T) {
	s := startServer(t, "--data", t.TempDir())
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "POST /v1.0/communications/callRecords HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n")
	b, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(b), "HTTP/1.1 501 ") || !strings.Contains(string(b), "Content-Type: application/json") || !strings.Contains(string(b), `"code":"NotImplemented"`) {
		t.Errorf("got %s", b)
	}
}
