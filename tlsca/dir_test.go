package tlsca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDirCertificate(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hosts := []string{"localhost", "127.0.0.1", "::1"}

	cert, caPath, err := DirCertificate(dir, hosts, start)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the CA is a CA, and the certificate is the CA's for every loopback name", func(t *testing.T) {
		if !ca.IsCA || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("CA %+v", ca.Subject)
		}
		if !filepath.IsAbs(caPath) || filepath.Base(caPath) != "ca.pem" {
			t.Errorf("CA path %s", caPath)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		for _, h := range hosts {
			if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: pool, CurrentTime: start}); err != nil {
				t.Errorf("%s: %v", h, err)
			}
		}
		for _, name := range []string{KeyFile, serverCertFile} {
			info, err := os.Stat(filepath.Join(dir, DirName, name))
			if err != nil || info.Mode().Perm() != 0o600 {
				t.Errorf("%s: %v, mode %v", name, err, info.Mode())
			}
		}
	})

	t.Run("the same certificate is used again", func(t *testing.T) {
		again, _, err := DirCertificate(dir, hosts, start.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Leaf.Raw, cert.Leaf.Raw) {
			t.Error("a new certificate was issued")
		}
	})

	t.Run("a new name gets a new certificate from the same CA", func(t *testing.T) {
		more, caPath2, err := DirCertificate(dir, append(hosts, "graph.microsoft.us"), start)
		if err != nil {
			t.Fatal(err)
		}
		if caPath2 != caPath || more.Leaf.VerifyHostname("graph.microsoft.us") != nil || more.Leaf.CheckSignatureFrom(ca) != nil {
			t.Error("no certificate for the new name from the same CA")
		}
	})

	t.Run("a certificate near its end is renewed", func(t *testing.T) {
		late := start.Add(380 * 24 * time.Hour)
		renewed, _, err := DirCertificate(dir, hosts, late)
		if err != nil {
			t.Fatal(err)
		}
		if !renewed.Leaf.NotAfter.After(late.Add(300*24*time.Hour)) || renewed.Leaf.CheckSignatureFrom(ca) != nil {
			t.Errorf("renewed certificate ends %v", renewed.Leaf.NotAfter)
		}
	})

	t.Run("a damaged CA is an error that says what to do", func(t *testing.T) {
		bad := t.TempDir()
		os.MkdirAll(filepath.Join(bad, DirName), 0o700)
		os.WriteFile(filepath.Join(bad, DirName, KeyFile), []byte("junk"), 0o600)
		if _, _, err := DirCertificate(bad, hosts, start); err == nil {
			t.Error("no error")
		}
	})
}

func TestParseRefusesWhatIsNotACA(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	data, err := New(now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	_, server, err := ca.Issue([]string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{"a server certificate": server, "junk": []byte("junk"), "nothing": nil} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s parses as a CA", name)
		}
	}
}

func TestCertFilesReadARenewal(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	data, _ := New(now)
	ca, _ := Parse(data)
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(host string, mtime time.Time) {
		t.Helper()
		_, pair, err := ca.Issue([]string{host}, now)
		if err != nil {
			t.Fatal(err)
		}
		block, rest := pem.Decode(pair)
		os.WriteFile(certPath, pem.EncodeToMemory(block), 0o600)
		os.WriteFile(keyPath, rest, 0o600)
		os.Chtimes(certPath, mtime, mtime)
		os.Chtimes(keyPath, mtime, mtime)
	}
	write("one.example", now.Add(-time.Hour))
	files, err := LoadCertFiles(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := files.GetCertificate(nil); c.Leaf.VerifyHostname("one.example") != nil {
		t.Fatalf("serves %v", c.Leaf.DNSNames)
	}
	write("two.example", now)
	files.checked = time.Time{} // as if ten seconds had passed
	if c, _ := files.GetCertificate(nil); c.Leaf.VerifyHostname("two.example") != nil {
		t.Errorf("after the renewal it serves %v", c.Leaf.DNSNames)
	}
	os.WriteFile(keyPath, []byte("half"), 0o600)
	os.Chtimes(keyPath, now.Add(time.Minute), now.Add(time.Minute))
	files.checked = time.Time{}
	if c, _ := files.GetCertificate(nil); c == nil || c.Leaf.VerifyHostname("two.example") != nil {
		t.Error("a half-written renewal replaced the certificate")
	}
	if _, err := LoadCertFiles(certPath, filepath.Join(dir, "absent.pem")); err == nil {
		t.Error("a missing key file loads")
	}
}
