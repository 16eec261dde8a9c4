package tlslisten_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/tlsca"
	"github.com/callvault/callvault/tlslisten"
)

// server is an https server on loopback behind a tlslisten.Listener whose
// HTTP/1.1 connections go through graph's EnvelopeConn, as serve's do.
type server struct {
	addr   string
	pool   *x509.CertPool
	gotTLS chan bool // whether each request to /tls had r.TLS
}

func start(t *testing.T) *server {
	t.Helper()
	now := time.Now()
	data, err := tlsca.New(now)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := tlsca.Parse(data)
	cert, _, err := ca.Issue([]string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := tlslisten.New(tcp, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}})
	gs := &graph.Server{}
	ln.WrapHTTP1 = gs.EnvelopeConn
	ln.HandshakeTimeout = 5 * time.Second
	s := &server{addr: tcp.Addr().String(), pool: x509.NewCertPool(), gotTLS: make(chan bool, 10)}
	s.pool.AddCert(ca.Cert)
	mux := http.NewServeMux()
	mux.HandleFunc("/tls", func(w http.ResponseWriter, r *http.Request) {
		s.gotTLS <- r.TLS != nil && r.TLS.HandshakeComplete
		fmt.Fprint(w, r.Proto)
	})
	hs := &http.Server{Handler: mux, MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return s
}

// raw sends request over TLS with HTTP/1.1, or over plain TCP, and reads
// the answer.
func (s *server) raw(t *testing.T, request string, overTLS bool) *http.Response {
	t.Helper()
	var conn net.Conn
	var err error
	if overTLS {
		conn, err = tls.Dial("tcp", s.addr, &tls.Config{RootCAs: s.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	} else {
		conn, err = net.Dial("tcp", s.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, request)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// graphError checks that resp is Graph's error envelope with status and
// returns its message.
func graphError(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				RequestID string `json:"request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	err := json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != status || err != nil || resp.Header.Get("Content-Type") != "application/json" ||
		body.Error.Code == "" || body.Error.Message == "" || body.Error.InnerError.RequestID == "" {
		t.Errorf("status %d (want %d), %s, %+v, %v", resp.StatusCode, status, resp.Header.Get("Content-Type"), body, err)
	}
	return body.Error.Message
}

func TestNetHTTPsOwnErrorsOverHTTPSComeInGraphsEnvelope(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"no host", "GET /v1.0/communications/callRecords HTTP/1.1\r\n\r\n", 400},
		{"headers too large", "GET /v1.0/communications/callRecords HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", 431},
		{"transfer encoding gzip", "POST /ingest/v1/callRecords HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"a malformed request line", "GET\r\n\r\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			graphError(t, s.raw(t, tc.request, true), tc.status)
		})
	}
}

func TestPlainHTTPToTheHTTPSPortGetsGraphsEnvelope(t *testing.T) {
	s := start(t)
	for _, method := range []string{"GET", "POST", "PATCH", "DELETE"} {
		msg := graphError(t, s.raw(t, method+" /v1.0/communications/callRecords HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", false), 400)
		if !strings.Contains(msg, "HTTPS") && !strings.Contains(msg, "https") {
			t.Errorf("%s: the message does not say to use https: %q", method, msg)
		}
	}
}

func TestHTTP2AndHTTP1KeepTheirTLS(t *testing.T) {
	s := start(t)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://localhost:" + s.addr[strings.LastIndex(s.addr, ":")+1:] + "/tls")
		if err != nil {
			t.Fatal(err)
		}
		proto, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		if string(proto) != want || !<-s.gotTLS {
			t.Errorf("served %s (want %s), or without r.TLS", proto, want)
		}
		tr.CloseIdleConnections()
	}
}

func TestAHandshakeUnderWayDoesNotHoldOthers(t *testing.T) {
	s := start(t)
	idle, err := net.Dial("tcp", s.addr) // says nothing
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	graphError(t, s.raw(t, "GET\r\n\r\n", true), 400) // served while the other waits
}

func TestCloseEndsAcceptAndHandshakesUnderWay(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := tlsca.New(time.Now())
	ca, _ := tlsca.Parse(data)
	cert, _, _ := ca.Issue([]string{"127.0.0.1"}, time.Now())
	ln := tlslisten.New(tcp, &tls.Config{Certificates: []tls.Certificate{cert}})
	accepted := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		accepted <- err
	}()
	idle, err := net.Dial("tcp", tcp.Addr().String()) // a handshake that waits for its ClientHello
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(50 * time.Millisecond)
	ln.Close()
	select {
	case err := <-accepted:
		if err == nil {
			t.Error("Accept returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the handshake under way was not abandoned: %v", err)
	}
}
