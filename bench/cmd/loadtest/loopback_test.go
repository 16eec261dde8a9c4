package main

import (
	"context"
	"strings"
	"testing"
)

func TestLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:0", "127.0.0.1:8080", "127.1.2.3:80", "[::1]:0", "[::ffff:127.0.0.1]:0"} {
		if err := loopbackAddr(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"0.0.0.0:8080", "[::]:80", "10.0.0.1:80", "192.168.1.1:0", "8.8.8.8:53", "[2001:db8::1]:80",
		"localhost:8080", "example.com:80", ":8080", "127.0.0.1", "127.0.0.1:",
	} {
		if err := loopbackAddr(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	for _, bad := range []string{"http://10.0.0.1:80/x", "https://127.0.0.1:443/x", "http://localhost:80/", "http://example.com/"} {
		if _, err := loopbackURL(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, err := loopbackURL("http://127.0.0.1:9/v1.0/x?$expand=segments"); err != nil {
		t.Error(err)
	}
}

func TestDialerRefusesOtherAddresses(t *testing.T) {
	dial := loopbackDialer()
	// A TEST-NET-1 address: the dialer must refuse it before any packet leaves.
	_, err := dial(context.Background(), "tcp", "192.0.2.1:80")
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("dial 192.0.2.1: %v", err)
	}
}
