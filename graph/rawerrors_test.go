package graph_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
)

// envelopeListener gives each accepted connection to wrap.
type envelopeListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l envelopeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// The errors net/http writes itself, before any handler runs, come in
// Graph's envelope too when the connection goes through EnvelopeConn.
func TestErrorsNetHTTPWritesItselfComeInGraphsEnvelope(t *testing.T) {
	srv := &graph.Server{
		NewID: func() string { return "00000000-0000-4000-8000-000000000001" },
		Now:   func() time.Time { return now },
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Listener = envelopeListener{ts.Listener, srv.EnvelopeConn}
	ts.Config.MaxHeaderBytes = 4 << 10
	ts.Start()
	t.Cleanup(ts.Close)
	for _, tc := range []struct{ name, request string }{
		{"transfer encoding gzip", "POST /ingest/v1/callRecords HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{"no host", "GET /v1.0/communications/callRecords HTTP/1.1\r\n\r\n"},
		{"headers too large", "GET /v1.0/communications/callRecords HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprint(conn, tc.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "raw-"+strings.ReplaceAll(tc.name, " ", "-"), render(t, resp))
		})
	}
}
