package graph_test

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
)

// rawGET returns the response head exactly as the server wrote it.
func rawGET(t *testing.T, base, path, authorization string) string {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: "+u.Host+"\r\nAuthorization: "+authorization+"\r\nConnection: close\r\n\r\n")
	var b strings.Builder
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			return b.String()
		}
	}
}
