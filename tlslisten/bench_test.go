package tlslisten_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/tlsca"
	"github.com/callvault/callvault/tlslisten"
)

// BenchmarkHTTPS compares a tlslisten.Listener with crypto/tls's own
// listener, as serve used before, on loopback: a new connection for each
// request (a handshake each), and requests on one kept-alive connection.
func BenchmarkHTTPS(b *testing.B) {
	now := time.Now()
	data, _ := tlsca.New(now)
	ca, _ := tlsca.Parse(data)
	cert, _, _ := ca.Issue([]string{"127.0.0.1"}, now)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	config := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
	listeners := map[string]func(net.Listener) net.Listener{
		"crypto-tls": func(ln net.Listener) net.Listener { return tls.NewListener(ln, config) },
		"tlslisten": func(ln net.Listener) net.Listener {
			l := tlslisten.New(ln, config)
			l.WrapHTTP1 = (&graph.Server{}).EnvelopeConn
			l.HandshakeTimeout = 10 * time.Second
			return l
		},
	}
	for _, name := range []string{"crypto-tls", "tlslisten"} {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "{}") })}
		go hs.Serve(listeners[name](tcp))
		url := "https://" + tcp.Addr().String() + "/"
		for _, keepAlive := range []bool{false, true} {
			mode := map[bool]string{false: "new-connection", true: "keep-alive"}[keepAlive]
			b.Run(name+"/"+mode, func(b *testing.B) {
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: !keepAlive}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				for b.Loop() {
					resp, err := client.Get(url)
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}
		hs.Close()
	}
}
