package graph_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
)

// limitedServer serves Extra's handler for /big through the graph
// middleware, with the given limits.
func limitedServer(t *testing.T, srv *graph.Server, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv.Extra = http.NewServeMux()
	srv.Extra.HandleFunc("/big", handler)
	srv.NewID = func() string { return "00000000-0000-4000-8000-000000000001" }
	srv.Now = func() time.Time { return now }
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// A client that asks for a response and never reads it cannot hold the
// handler (and the page, and the store's read) for ever: once a write has
// made no progress for WriteStallTimeout, it fails.
func TestAResponseThatStallsIsAbandoned(t *testing.T) {
	done := make(chan error, 1)
	ts := limitedServer(t, &graph.Server{WriteStallTimeout: 300 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 1<<20))
		var err error
		for i := 0; i < 256 && err == nil; i++ { // 256 MiB: more than any socket buffers
			_, err = w.Write(chunk)
		}
		done <- err
	})
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
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
}

// A slow reader that keeps reading is not cut off: the timeout is on a
// stall, not on the whole response.
func TestASlowButSteadyReaderGetsTheWholeResponse(t *testing.T) {
	const size = 8 << 20
	ts := limitedServer(t, &graph.Server{WriteStallTimeout: time.Second}, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", size))) // one big write, as a page is
	})
	resp, err := http.Get(ts.URL + "/big")
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
