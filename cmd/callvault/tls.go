package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The local CA of --tls auto lives in DATA/tls:
//
//	ca.pem         the CA certificate, for SSL_CERT_FILE, curl --cacert, NODE_EXTRA_CA_CERTS
//	ca-key.pem     the CA's private key and certificate (0600)
//	server.pem     the server certificate and its private key (0600), issued by the CA
//
// The CA is made once and kept, so that a client trusts it across restarts;
// the server certificate is issued again when it nears its end or lacks a
// name the server now needs. Each file is replaced whole, so a process
// never reads half of one.
const (
	tlsDir         = "tls"
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"

	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 397 * 24 * time.Hour // the most browsers and Apple accept
	renewBefore    = 30 * 24 * time.Hour
)

// localCA returns the data directory's CA, making it if there is none.
// Processes that make it at once all end up with the same one.
func localCA(dataDir string, now time.Time) (*x509.Certificate, crypto.Signer, string, error) {
	dir := filepath.Join(dataDir, tlsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, "", fmt.Errorf("tls: %w", err)
	}
	keyPath, certPath := filepath.Join(dir, caKeyFile), filepath.Join(dir, caCertFile)
	cert, key, err := readCA(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := makeCA(keyPath, now); err != nil {
			return nil, nil, "", err
		}
		cert, key, err = readCA(keyPath) // the winner's, if another process made one too
	}
	if err != nil {
		return nil, nil, "", err
	}
	// ca.pem is derived from ca-key.pem: written again if missing or stale.
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if old, err := os.ReadFile(certPath); err != nil || !bytes.Equal(old, certPEM) {
		if err := replaceFile(certPath, certPEM, 0o644); err != nil {
			return nil, nil, "", fmt.Errorf("tls: %w", err)
		}
	}
	abs, err := filepath.Abs(certPath)
	if err != nil {
		abs = certPath
	}
	return cert, key, abs, nil
}

func makeCA(keyPath string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			Organization: []string{"callvault development CA"},
			CommonName:   "callvault local CA " + host,
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // it signs server certificates, never another CA
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tls: make CA: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	data := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	return publishFile(keyPath, data)
}

// readCA reads the CA's key and certificate, and checks they belong together.
func readCA(keyPath string) (*x509.Certificate, crypto.Signer, error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, nil, fmt.Errorf("tls: the local CA %s is damaged (%v); delete %s to make a new one, and trust the new ca.pem", keyPath, err, filepath.Dir(keyPath))
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || !pair.Leaf.IsCA {
		return nil, nil, fmt.Errorf("tls: %s does not hold a CA certificate and its key", keyPath)
	}
	return pair.Leaf, key, nil
}

// autoCertificate returns the server certificate of --tls auto for hosts,
// issuing a new one from the local CA when there is none, it expires within
// 30 days, it lacks one of hosts, or another CA issued it.
func autoCertificate(dataDir string, hosts []string, now time.Time) (tls.Certificate, string, error) {
	caCert, caKey, caPath, err := localCA(dataDir, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	path := filepath.Join(dataDir, tlsDir, serverCertFile)
	if data, err := os.ReadFile(path); err == nil {
		if cert, err := tls.X509KeyPair(data, data); err == nil && usable(cert.Leaf, caCert, hosts, now) {
			return cert, caPath, nil
		}
	}
	data, err := issueServerCertificate(caCert, caKey, hosts, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	if err := replaceFile(path, data, 0o600); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	return cert, caPath, nil
}

// usable reports whether a server certificate can go on serving hosts.
func usable(leaf, ca *x509.Certificate, hosts []string, now time.Time) bool {
	if leaf.CheckSignatureFrom(ca) != nil || now.Add(renewBefore).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return false
	}
	for _, h := range hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func issueServerCertificate(ca *x509.Certificate, caKey crypto.Signer, hosts []string, now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"callvault development CA"}, CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if tmpl.NotAfter.After(ca.NotAfter) {
		tmpl.NotAfter = ca.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("tls: issue server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// keyID is the RFC 5280 §4.2.1.2 method 1 key identifier.
func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha1.Sum(der)
	return sum[:]
}

// publishFile writes data to path (0600) unless path exists: the first
// process to finish wins, and nobody's file is overwritten.
func publishFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

// replaceFile replaces path with data atomically.
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// certFiles is a certificate and key given by --tls-cert and --tls-key,
// read again when either file changes (a renewal), at most every 10 seconds.
type certFiles struct {
	certPath, keyPath string

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]time.Time // the files' modification times when read
	checked time.Time
}

func newCertFiles(certPath, keyPath string) (*certFiles, error) {
	f := &certFiles{certPath: certPath, keyPath: keyPath}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *certFiles) load() error {
	var stamp [2]time.Time
	for i, p := range []string{f.certPath, f.keyPath} {
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		stamp[i] = info.ModTime()
	}
	cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		return fmt.Errorf("tls: --tls-cert %s and --tls-key %s: %w", f.certPath, f.keyPath, err)
	}
	f.cert, f.stamp = &cert, stamp
	return nil
}

func (f *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := time.Now(); now.Sub(f.checked) >= 10*time.Second {
		f.checked = now
		changed := false
		for i, p := range []string{f.certPath, f.keyPath} {
			if info, err := os.Stat(p); err == nil && !info.ModTime().Equal(f.stamp[i]) {
				changed = true
			}
		}
		if changed {
			f.load() // a half-written renewal fails to load; the old pair stays
		}
	}
	return f.cert, nil
}
