package graph_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
)

// limitedServer serves Extra's handler for /big through the graph
// middleware, with the given limits, over plain HTTP/1.1.
func limitedServer(t *testing.T, srv *graph.Server, handler http.HandlerFunc) *httptest.Server {
	return limitedServerOver(t, "http", srv, handler)
}

// limitedServerOver is limitedServer over scheme "http" or "https"
// (HTTP/1.1 over TLS), its connections wrapped as serve's listener wraps
// them: StallConn on the TCP connection, under any TLS.
func limitedServerOver(t *testing.T, scheme string, srv *graph.Server, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv.Extra = http.NewServeMux()
	srv.Extra.HandleFunc("/big", handler)
	srv.NewID = func() string { return "00000000-0000-4000-8000-000000000001" }
	srv.Now = func() time.Time { return now }
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener = envelopeListener{ts.Listener, srv.StallConn}
	if scheme == "https" {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

// A client that asks for a response and never reads it cannot hold the
// handler (and the page, and the store's read) for ever: once a write has
// made no progress for WriteStallTimeout, it fails. Under TLS too, where
// the bound is on the TCP connection beneath it.
func TestAResponseThatStallsIsAbandoned(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			done := make(chan error, 1)
			ts := limitedServerOver(t, scheme, &graph.Server{WriteStallTimeout: 300 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
				chunk := []byte(strings.Repeat("x", 1<<20))
				var err error
				for i := 0; i < 256 && err == nil; i++ { // 256 MiB: more than any socket buffers
					_, err = w.Write(chunk)
				}
				done <- err
			})
			var conn net.Conn
			var err error
			if scheme == "https" {
				conn, err = tls.Dial("tcp", ts.Listener.Addr().String(), ts.Client().Transport.(*http.Transport).TLSClientConfig)
			} else {
				conn, err = net.Dial("tcp", ts.Listener.Addr().String())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
			select {
			case err := <-done:
				if err == nil {
					t.Error("256 MiB were written to a client that reads nothing")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler is still writing to a client that reads nothing after 10 s")
			}
		})
	}
}

// A slow reader that keeps reading is not cut off: the timeout is on a
// stall, not on the whole response.
func TestASlowButSteadyReaderGetsTheWholeResponse(t *testing.T) {
	for _, scheme := range []string{"http", "https"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			const size = 8 << 20
			ts := limitedServerOver(t, scheme, &graph.Server{WriteStallTimeout: time.Second}, func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(strings.Repeat("x", size))) // one big write, as a page is
			})
			resp, err := ts.Client().Get(ts.URL + "/big")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			n := 0
			buf := make([]byte, 64<<10)
			for {
				m, err := io.ReadFull(resp.Body, buf)
				n += m
				if err != nil {
					break
				}
				time.Sleep(30 * time.Millisecond) // about 2 MB/s: the response takes 4 s, four stall timeouts
			}
			if n != size {
				t.Errorf("read %d bytes of %d in %v", n, size, time.Since(start))
			}
		})
	}
}

// Beyond MaxRequests in flight, a request gets Graph's 503 with a
// Retry-After at once, rather than more memory.
func TestRequestsBeyondTheCapGet503(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	ts := limitedServer(t, &graph.Server{MaxRequests: 1}, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
	})
	go func() {
		resp, err := http.Get(ts.URL + "/big")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	<-started
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: plainClient.Transport}).Get(ts.URL + "/big")
	close(release)
	if err != nil {
		t.Fatalf("the request beyond the cap was not refused at once: %v", err)
	}
	if got := resp.Header.Get("Retry-After"); got == "" {
		t.Error("no Retry-After")
	}
	golden(t, "limits-too-many-requests", render(t, resp))
}

// countingConn counts the writes that reach the connection.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// A page goes to the connection in one write, not in a write a chunk: the
// stall bound is the connection's, and one write syscall and TCP push per
// 64 KiB cost a third of a large page's CPU.
func TestALargeResponseIsWrittenWhole(t *testing.T) {
	const size = 800 << 10
	srv := &graph.Server{WriteStallTimeout: 30 * time.Second}
	srv.Extra = http.NewServeMux()
	srv.Extra.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write([]byte(strings.Repeat("x", size)))
	})
	var writes atomic.Int64
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener = envelopeListener{ts.Listener, func(c net.Conn) net.Conn {
		return srv.StallConn(countingConn{c, &writes})
	}}
	ts.Start()
	t.Cleanup(ts.Close)
	resp, err := http.Get(ts.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("read %d bytes of %d: %v", n, size, err)
	}
	// The headers fill net/http's buffer of the connection, which is
	// written when the body does not fit beside them; the body follows.
	if got := writes.Load(); got > 2 {
		t.Errorf("a response of %d bytes reached the connection in %d writes, want at most 2", size, got)
	}
}
